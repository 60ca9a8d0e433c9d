/**
 * The load test: `agents` simulated agents, every one a member of one token network holding its
 * push channel, heartbeating every 30 s and pinging its channel every 20 s as daemons do, while a
 * tenth of them churn (leave, then join again) at `changesPerSecond` for `seconds`.
 *
 * Nothing may be lost: every channel that stays open hears every change made while it is open, in
 * revision order with no gap (ChannelLog checks each as it arrives), and ends at the network's
 * final revision. The push delay is from the registry's answer to a join or leave to each open
 * channel's event for it.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { HEARTBEAT_INTERVAL_SECONDS } from "@pilot/protocol";
import { progress, round, sleep, summary } from "../bench/measure.ts";
import type { Channel, SimAgent } from "./agent.ts";
import { inPool, registerAgents, type Stage } from "./stage.ts";

export interface LoadOptions {
  agents: number;
  seconds: number;
  changesPerSecond: number;
}

/** The channel keep-alive interval daemons use (live-channel.ts). */
const PING_INTERVAL_MS = 20_000;
/** How long the channels get, after the churn stops, to catch up with the last change. */
const SETTLE_MS = 60_000;

/**
 * The n-th change of a kind for a node, as a key both sides can compute: the driver counts the
 * changes it makes, a channel counts the events it hears. Channels that were open all along hear
 * every change (or the run reports a gap), so their n-th is the driver's n-th.
 */
export class ChangeKeys {
  readonly #counts = new Map<string, number>();

  next(change: "added" | "removed", nodeId: number): string {
    const base = `${change}:${nodeId}`;
    const n = (this.#counts.get(base) ?? 0) + 1;
    this.#counts.set(base, n);
    return `${base}:${n}`;
  }
}

export async function loadTest(stage: Stage, o: LoadOptions) {
  const { registry, network } = stage;
  const id = network.network_id;
  progress(`load: registering ${o.agents} agents; each joins the network and opens its channel`);
  const agents = await registerAgents(registry.url, o.agents);
  await inPool(agents, 16, (a) => a.join(id, network.join!.token));
  const channels = new Map<SimAgent, Channel>();
  await inPool(agents, 32, async (a) => void channels.set(a, await a.openChannel(id)));
  // The churners are the last tenth; the rest keep their channels for the whole run.
  const churners = agents.slice(Math.floor(o.agents * 0.9));
  const steady = agents.slice(0, Math.floor(o.agents * 0.9)).map((a) => channels.get(a)!);
  const counts = { heartbeats: 0, heartbeat_failures: 0, joins: 0, leaves: 0, change_failures: 0, reconnects: 0, skipped_turns: 0 };
  const answered = new Map<string, number>();
  const driverKeys = new ChangeKeys();
  // How late this process runs its callbacks: thousands of channels in one process can make the
  // client, not the registry, the slow part, and every delay measured here includes this.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const until = performance.now() + o.seconds * 1000;
  progress(`load: ${o.seconds} s of heartbeats, keep-alives and ${o.changesPerSecond} membership changes a second`);

  const heartbeats = agents.map(async (a) => {
    // Spread over the interval, as daemons started at different times are.
    await sleep(Math.random() * HEARTBEAT_INTERVAL_SECONDS * 1000);
    while (performance.now() < until) {
      await a.heartbeat().then(
        () => counts.heartbeats++,
        () => counts.heartbeat_failures++,
      );
      await sleep(Math.min(HEARTBEAT_INTERVAL_SECONDS * 1000, until - performance.now()));
    }
  });
  const pings = setInterval(() => {
    for (const c of channels.values()) c.ping();
  }, PING_INTERVAL_MS);

  const member = new Set(churners);
  /** Churners whose last change has not been answered yet: never two changes of one node at once. */
  const busy = new Set<SimAgent>();
  const change = async (a: SimAgent) => {
    busy.add(a);
    try {
      if (member.has(a)) {
        await a.leave(id);
        answered.set(driverKeys.next("removed", a.nodeId), performance.now());
        member.delete(a);
        counts.leaves++;
      } else {
        await a.join(id, network.join!.token);
        answered.set(driverKeys.next("added", a.nodeId), performance.now());
        member.add(a);
        counts.joins++;
        // A member that comes back opens its channel again, as a daemon does.
        channels.set(a, await a.openChannel(id));
        counts.reconnects++;
      }
    } catch (e) {
      counts.change_failures++;
      progress(`load: ${(e as Error).message}`);
    } finally {
      busy.delete(a);
    }
  };
  // Changes start at the rate asked, each without waiting for the one before, on the next churner
  // that is not still busy with its last one (a turn with every churner busy is skipped and counted).
  const changing: Promise<void>[] = [];
  for (let turn = 0; performance.now() < until; turn++) {
    const next = Array.from(churners, (_, i) => churners[(turn + i) % churners.length]!).find((c) => !busy.has(c));
    if (next === undefined) counts.skipped_turns++;
    else changing.push(change(next));
    await sleep(1000 / o.changesPerSecond);
  }
  await Promise.all(changing);
  await Promise.all(heartbeats);
  clearInterval(pings);
  loop.disable();

  // The revision the last change left the network at, where the network's object keeps it.
  const { revision } = (await stage.db.prepare("SELECT revision FROM networks WHERE id = ?").bind(id).first<{ revision: number }>())!;
  const settleBy = performance.now() + SETTLE_MS;
  while (steady.some((c) => c.log.revision !== revision) && performance.now() < settleBy) await sleep(100);

  const delays: number[] = [];
  let unmatched = 0;
  for (const c of steady) {
    const keys = new ChangeKeys();
    for (const h of c.log.heard) {
      const at = answered.get(keys.next(h.change, h.nodeId));
      if (at === undefined) unmatched++;
      else delays.push(Math.max(0, h.at - at));
    }
  }
  const changes = counts.joins + counts.leaves;
  const expected = changes * steady.length;
  const heard = steady.reduce((n, c) => n + c.log.heard.length, 0);
  const gaps = [...channels.values()].reduce((n, c) => n + c.log.gaps.length, 0);
  const behind = steady.filter((c) => c.log.revision !== revision).length;
  const malformed = [...channels.values()].reduce((n, c) => n + c.log.malformed, 0);
  for (const c of channels.values()) c.close();
  return {
    agents: o.agents,
    seconds: o.seconds,
    changes_per_second: o.changesPerSecond,
    steady_channels: steady.length,
    ...counts,
    events_expected: expected,
    events_heard: heard,
    lost: expected - heard,
    gaps,
    channels_behind_at_end: behind,
    unmatched,
    malformed,
    push_ms: summary(delays),
    client_event_loop_delay_ms: { median: round(loop.percentile(50) / 1e6), p99: round(loop.percentile(99) / 1e6) },
    ok: expected === heard && gaps === 0 && behind === 0 && unmatched === 0 && malformed === 0 && counts.change_failures === 0,
  };
}

export const loadSummary = (r: Awaited<ReturnType<typeof loadTest>>) =>
  `${r.events_heard} of ${r.events_expected} events heard (${r.joins} joins, ${r.leaves} leaves × ${r.steady_channels} channels), ${r.gaps} gaps, ${r.heartbeats} heartbeats (${r.heartbeat_failures} failed), ${r.skipped_turns} turns skipped (every churner busy), client event loop p99 ${r.client_event_loop_delay_ms.p99} ms${r.ok ? "" : " — LOST OR FAILED"}; push p50 ${r.push_ms.median} ms / p99 ${r.push_ms.p99} ms`;
