/**
 * `npm run bench -- --only capacity`: the capacity model's measures (docs/capacity.md), each on a
 * fresh local registry in workerd, with simulated agents (agent.ts) instead of daemons. Sizes and
 * the load test's length come from the environment, as the bench's other sizes do:
 *
 *   BENCH_LOAD_AGENTS (1,000), BENCH_LOAD_SECONDS (60), BENCH_LOAD_CHANGES (changes a second, 5),
 *   BENCH_FANOUT_MEMBERS (9,900), BENCH_FANOUT_RUNS (10),
 *   BENCH_SCALE_NODES (1,000,000), BENCH_RELAY_SECONDS (5).
 *
 * The Worker's workerd holds two file descriptors per WebSocket, and a process here may hold 20,000
 * (a hard limit): 9,900 member channels on one object is near the most a local run can open.
 */
import { startLocalRegistry } from "../../daemon/test/local-registry.ts";
import { progress } from "../bench/measure.ts";
import { memberFanOut } from "./fanout.ts";
import { loadSummary, loadTest } from "./load.ts";
import { relayThroughput } from "./relay.ts";
import { atScale, MAX_NETWORKS } from "./scale.ts";
import { startStage, type Stage } from "./stage.ts";

const setting = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${process.env[name]}`);
  return value;
};

/** Senders into one receiver: one shows a sender's ceiling, the others the receiving object's. */
const RELAY_SENDERS = [1, 2, 4, 8];

async function onStage<T>(measure: (stage: Stage) => Promise<T>): Promise<T> {
  const stage = await startStage();
  try {
    return await measure(stage);
  } finally {
    await stage.registry.close();
  }
}

const spread = (s: { min: number; median: number; p99: number }) => `min ${s.min} / median ${s.median} / p99 ${s.p99}`;

export async function capacity(): Promise<{ results: Record<string, unknown>; rows: string[][] }> {
  const load = { agents: setting("BENCH_LOAD_AGENTS", 1000), seconds: setting("BENCH_LOAD_SECONDS", 60), changesPerSecond: setting("BENCH_LOAD_CHANGES", 5) };
  const fanOutMembers = setting("BENCH_FANOUT_MEMBERS", 9_900);
  const fanOutRuns = setting("BENCH_FANOUT_RUNS", 10);
  const scaleNodes = setting("BENCH_SCALE_NODES", 1_000_000);
  const relaySeconds = setting("BENCH_RELAY_SECONDS", 5);

  const loaded = await onStage((stage) => loadTest(stage, load));
  progress(`load: ${loadSummary(loaded)}`);
  const fanOut = await onStage((stage) => memberFanOut(stage, fanOutMembers, fanOutRuns));
  const registry = await startLocalRegistry();
  const relay = [];
  try {
    for (const senders of RELAY_SENDERS) relay.push(await relayThroughput(registry.url, senders, relaySeconds));
  } finally {
    await registry.close();
  }
  const scale = await onStage((stage) => atScale(stage, scaleNodes));

  const rows: string[][] = [
    [
      `load: ${load.agents} agents holding channels and heartbeating, ${load.changesPerSecond} joins/leaves a second for ${load.seconds} s`,
      `${loaded.events_heard} of ${loaded.events_expected} events heard, ${loaded.gaps} gaps, ${loaded.change_failures} failed changes, ${loaded.heartbeat_failures} failed heartbeats`,
      "nothing lost",
    ],
    ["load: membership push, change answered → each channel's event (ms)", spread(loaded.push_ms), ""],
    [
      "load: this process's event-loop delay, median · p99 (ms; every delay above includes it)",
      `${loaded.client_event_loop_delay_ms.median} · ${loaded.client_event_loop_delay_ms.p99}; ${loaded.skipped_turns} churn turns skipped, every churner busy`,
      "",
    ],
    [
      `fan-out: ${fanOut.members} members connect to one network`,
      `${fanOut.connect_s} s`,
      "",
    ],
    [`fan-out: removal answered → last of ${fanOut.members - 1} sockets (ms), ${fanOut.runs} runs`, `${spread(fanOut.last_socket_ms)}; ${fanOut.missed} missed`, "p99 ≤ 100"],
    ["fan-out: removal answered → every socket (ms)", spread(fanOut.every_socket_ms), ""],
    ["fan-out: removal sent → its answer (ms)", spread(fanOut.request_to_answer_ms), ""],
    ["fan-out: removal sent → last socket (ms)", spread(fanOut.request_to_last_socket_ms), ""],
    ...relay.map((r) => [`relay into one node's object, ${r.senders} sender(s) (MiB/s received; offered)`, `${r.received_mib_s} (${r.offered_mib_s})`, ""]),
    [`scale: seeding ${scaleNodes.toLocaleString("en")} nodes, ${MAX_NETWORKS.toLocaleString("en")} networks`, `${scale.seed.seconds} s; D1 file ${scale.seed.d1_mb_before} → ${scale.seed.d1_mb_after} MB`, ""],
    [`scale: a node's row by ID, SQLite's own time per search at ${scaleNodes.toLocaleString("en")} nodes (µs)`, `${scale.point_read_us}`, ""],
    ...Object.keys(scale.full_ms).map((name) => [
      `scale: ${name}, median · p99 ms, empty → ${scaleNodes.toLocaleString("en")} nodes`,
      `${scale.empty_ms[name]!.median} · ${scale.empty_ms[name]!.p99} → ${scale.full_ms[name]!.median} · ${scale.full_ms[name]!.p99}`,
      "",
    ]),
  ];
  return { results: { capacity: { load: loaded, fan_out: fanOut, relay, scale } }, rows };
}
