/**
 * Revocation fan-out from one network's object: the owner removes one member at a time, and we
 * time from the registry's answer to the member_removed event on every socket the object holds,
 * the last one above all.
 *
 * The members are simulated agents, each holding its own channel, connected to the Worker's workerd
 * directly (stage.ts: runtimeUrl), which is what lets one process here hold nearly 10,000 of them.
 *
 * The members are registered as real nodes (their own keys and proofs) and their memberships are
 * written straight into D1, as the rows a join writes (and one move of the network's revision for them
 * all, which a greeting is kept under): joining thousands of nodes one by one through
 * the network's object would measure the joins, which the load test does.
 */
import { progress, round, summary } from "../bench/measure.ts";
import type { ChannelLog, Heard, SimAgent } from "./agent.ts";
import { inPool, registerAgents, type Stage } from "./stage.ts";

/** How long one removal may take to reach every socket before the run counts what is missing. */
const FAN_OUT_WAIT_MS = 120_000;

/** Registers `count` agents and makes them members of the stage's network, as rows in D1. */
async function seededMembers(stage: Stage, count: number): Promise<SimAgent[]> {
  const { db, network } = stage;
  const agents = await registerAgents(stage.runtime, count);
  const ids = agents.map((a) => a.nodeId);
  for (let i = 0; i < ids.length; i += 500) {
    const rows = ids.slice(i, i + 500).map((id) => `(${network.network_id}, ${id}, 0)`);
    await db.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) VALUES ${rows.join(",")}`).run();
  }
  await db.prepare("UPDATE networks SET member_count = member_count + ?, revision = revision + 1 WHERE id = ?").bind(count, network.network_id).run();
  return agents;
}

/**
 * Removes `victims` one at a time; for each, the time from the answer to its event on every one of
 * `listeners` (a listener that is itself removed stops listening from then on).
 */
async function timeRemovals(stage: Stage, victims: SimAgent[], listeners: { log: ChannelLog; nodeId: number }[]) {
  const { owner, network } = stage;
  const lastSocket: number[] = [];
  const everySocket: number[] = [];
  const answer: number[] = [];
  const fromRequest: number[] = [];
  let missed = 0;
  const gone = new Set<number>();
  for (const [run, victim] of victims.entries()) {
    gone.add(victim.nodeId);
    const hearing = listeners.filter((l) => !gone.has(l.nodeId));
    const arrivals: number[] = [];
    const all = new Promise<void>((resolve) => {
      const hear = (h: Heard) => {
        if (h.change === "removed" && h.nodeId === victim.nodeId && arrivals.push(h.at) === hearing.length) resolve();
      };
      for (const l of hearing) l.log.onChange = hear;
    });
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, FAN_OUT_WAIT_MS).unref());
    const sent = performance.now();
    await owner.request("DELETE", `/v1/networks/${network.network_id}/members/${victim.nodeId}`);
    const answered = performance.now();
    await Promise.race([all, timeout]);
    missed += hearing.length - arrivals.length;
    // The object sends before it answers: an event that beat the answer counts as 0 from it.
    const delays = arrivals.map((at) => Math.max(0, at - answered));
    everySocket.push(...delays);
    lastSocket.push(Math.max(...delays));
    fromRequest.push(Math.max(...arrivals) - sent);
    answer.push(answered - sent);
    progress(`fan-out run ${run + 1}: ${arrivals.length} of ${hearing.length} sockets heard it; request → answer ${round(answered - sent)} ms, → last socket ${round(Math.max(...arrivals) - sent)} ms`);
  }
  return {
    runs: victims.length,
    last_socket_ms: summary(lastSocket),
    every_socket_ms: summary(everySocket),
    request_to_answer_ms: summary(answer),
    request_to_last_socket_ms: summary(fromRequest),
    missed,
    gaps: listeners.reduce((n, l) => n + l.log.gaps.length, 0),
  };
}

/** `members` members, each holding its own channel; `runs` of them removed in turn. */
export async function memberFanOut(stage: Stage, members: number, runs: number) {
  progress(`fan-out: registering ${members} agents`);
  let started = performance.now();
  const agents = await seededMembers(stage, members);
  const registerSeconds = round((performance.now() - started) / 1000);
  progress(`fan-out: ${members} members open the network's channel`);
  started = performance.now();
  const channels = await inPool(agents, 32, (a) => a.openChannel(stage.network.network_id));
  const connectSeconds = round((performance.now() - started) / 1000);
  const listeners = channels.map((c, i) => ({ log: c.log, nodeId: agents[i]!.nodeId }));
  const timed = await timeRemovals(stage, agents.slice(-runs).reverse(), listeners);
  for (const c of channels) c.close();
  return { members, register_s: registerSeconds, connect_s: connectSeconds, ...timed };
}
