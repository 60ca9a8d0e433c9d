/**
 * Revocation fan-out from one network's object: `members` simulated agents, each a member holding
 * the network's push channel; the owner removes one member at a time, and we time from the
 * registry's answer to the member_removed event on every other socket, the last one above all.
 *
 * The members are registered as real nodes (their own keys and proofs) and their memberships are
 * written straight into D1, as the rows a join writes: joining 10,000 nodes one by one through the
 * network's object would measure the joins, which the load test does.
 */
import { progress, round, summary } from "../bench/measure.ts";
import type { Channel, Heard } from "./agent.ts";
import { inPool, registerAgents, type Stage } from "./stage.ts";

/** How long one removal may take to reach every socket before the run counts what is missing. */
const FAN_OUT_WAIT_MS = 120_000;

export async function revocationFanOut(stage: Stage, members: number, runs: number) {
  const { registry, db, owner, network } = stage;
  progress(`fan-out: registering ${members} agents`);
  let started = performance.now();
  const agents = await registerAgents(registry.url, members);
  const registerSeconds = round((performance.now() - started) / 1000);
  const rows = agents.map((a) => a.nodeId);
  for (let i = 0; i < rows.length; i += 500) {
    const ids = rows.slice(i, i + 500);
    await db.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) VALUES ${ids.map((id) => `(${network.network_id}, ${id}, 0)`).join(",")}`).run();
  }
  await db.prepare("UPDATE networks SET member_count = member_count + ? WHERE id = ?").bind(members, network.network_id).run();
  progress(`fan-out: ${members} members open the network's channel`);
  started = performance.now();
  // Each new socket is announced to every open one (presence): connecting n costs n²/2 messages.
  const channels: Channel[] = await inPool(agents, 32, (a) => a.openChannel(network.network_id));
  const connectSeconds = round((performance.now() - started) / 1000);
  const lastSocket: number[] = [];
  const everySocket: number[] = [];
  /** From sending the removal: to its answer, and to the last socket's event. */
  const answer: number[] = [];
  const fromRequest: number[] = [];
  let missed = 0;
  for (let run = 0; run < runs; run++) {
    const victim = agents[members - 1 - run]!;
    const listeners = channels.filter((_, i) => i < members - 1 - run);
    const arrivals: number[] = [];
    const all = new Promise<void>((resolve) => {
      const hear = (h: Heard) => {
        if (h.change === "removed" && h.nodeId === victim.nodeId && arrivals.push(h.at) === listeners.length) resolve();
      };
      for (const c of listeners) c.log.onChange = hear;
    });
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, FAN_OUT_WAIT_MS).unref());
    const sent = performance.now();
    await owner.request("DELETE", `/v1/networks/${network.network_id}/members/${victim.nodeId}`);
    const answered = performance.now();
    await Promise.race([all, timeout]);
    missed += listeners.length - arrivals.length;
    // The object sends before it answers: an event that beat the answer counts as 0 from it.
    const delays = arrivals.map((at) => Math.max(0, at - answered));
    everySocket.push(...delays);
    lastSocket.push(Math.max(...delays));
    fromRequest.push(Math.max(...arrivals) - sent);
    answer.push(answered - sent);
    progress(`fan-out run ${run + 1}: ${arrivals.length} of ${listeners.length} sockets heard it; request → answer ${round(answered - sent)} ms, → last socket ${round(Math.max(...arrivals) - sent)} ms`);
  }
  const gaps = channels.reduce((n, c) => n + c.log.gaps.length, 0);
  for (const c of channels) c.close();
  return {
    members,
    runs,
    register_s: registerSeconds,
    connect_s: connectSeconds,
    last_socket_ms: summary(lastSocket),
    every_socket_ms: summary(everySocket),
    request_to_answer_ms: summary(answer),
    request_to_last_socket_ms: summary(fromRequest),
    missed,
    gaps,
  };
}
