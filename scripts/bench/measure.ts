/** What every part of `npm run bench` measures with: progress lines, summaries, and CPU time. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export const progress = (line: string) => process.stderr.write(`… ${line}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (n: number) => Math.round(n * 100) / 100;
/** Wall-clock milliseconds, comparable between processes (each has its own performance clock). */
export const wallClock = () => performance.timeOrigin + performance.now();
/** Sends an unpaced datagram measure keeps queued: what the receiver's buffers cannot hold is lost. */
export const IN_FLIGHT = 256;

/**
 * Starts `count` sends, `send(i, settled)` each, keeping at most IN_FLIGHT of them unsettled (each
 * calls `settled` once), and resolves when all have settled; `waitBefore(i)` may hold a send back
 * (pacing). A full window waits to be woken by the send that settles: waiting by turning the event
 * loop over would spin, taking a core the measured processes share.
 */
export async function keepInFlight(count: number, send: (i: number, settled: () => void) => void, waitBefore?: (i: number) => number): Promise<void> {
  let inFlight = 0;
  let room: (() => void) | undefined;
  const settled = () => {
    inFlight--;
    room?.();
    room = undefined;
  };
  for (let i = 0; i < count; i++) {
    const wait = waitBefore?.(i) ?? 0;
    if (wait > 0) await sleep(wait);
    while (inFlight >= IN_FLIGHT) await new Promise<void>((r) => (room = r));
    inFlight++;
    send(i, settled);
  }
  while (inFlight > 0) await new Promise<void>((r) => (room = r));
}

export function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { runs: s.length, min: round(s[0]!), median: round(at(0.5)), p99: round(at(0.99)) };
}

export const median = (samples: number[]) => summary(samples).median;

let ticksPerSecond: number | undefined;

/** CPU seconds a process has used so far, user and system, all its threads: /proc/<pid>/stat's utime + stime. */
function cpuSeconds(pid: number): number {
  ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; the fields after it are space-separated, utime 14th and stime 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/**
 * The share of this machine's CPU time the hypervisor gave to others from now on (/proc/stat's
 * steal): a virtual machine on a busy host loses whole slices of a run, which no figure shows
 * otherwise. Zero on bare metal.
 */
export function stolenShare(): () => number {
  const times = () => readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const before = times();
  return () => {
    const spent = times().map((t, i) => t - before[i]!);
    const total = spent.reduce((sum, t) => sum + t, 0);
    return total ? spent[7]! / total : 0;
  };
}

/**
 * Starts counting the CPU time of named processes; the function returned gives each one's CPU
 * seconds per GB (10⁹ bytes) moved since, for `bytes` moved. Read it before a process ends.
 */
export function cpuPerGb<K extends string>(pids: Record<K, number>): (bytes: number) => Record<K, number> {
  const names = Object.keys(pids) as K[];
  const before = names.map((name) => cpuSeconds(pids[name]));
  return (bytes) => Object.fromEntries(names.map((name, i) => [name, round((cpuSeconds(pids[name]) - before[i]!) / (bytes / 1e9))])) as Record<K, number>;
}

/** The median of each process's CPU seconds per GB over several runs. */
export function medianCpu<K extends string>(runs: Record<K, number>[]): Record<K, number> {
  const names = Object.keys(runs[0] ?? {}) as K[];
  return Object.fromEntries(names.map((name) => [name, median(runs.map((r) => r[name]))])) as Record<K, number>;
}

/** When and how one side of a connection failed. */
export type Failure = { at: number; code: string };
export const failure = (e: Error & { code?: string }): Failure => ({ at: performance.now(), code: e.code ?? e.message });

/**
 * The two sides' teardowns of a connection over many runs: signed delays from the registry's
 * answer (negative: torn down before the answer reached us), the error codes seen, and the runs
 * where a side saw nothing within `waitMs` (counted as `waitMs`).
 */
export function cutOffs(waitMs: number) {
  const delays = { b: [] as number[], a: [] as number[], b_codes: [] as string[], a_codes: [] as string[], missed_b: 0, missed_a: 0 };
  const record = (run: { a?: Failure | undefined; b?: Failure | undefined }, answered: number) => {
    for (const side of ["a", "b"] as const) {
      const f = run[side];
      delays[side].push(round(f ? f.at - answered : waitMs));
      delays[`${side}_codes`].push(f ? f.code : "none");
      if (!f) delays[`missed_${side}`]++;
    }
  };
  return { delays, record };
}
