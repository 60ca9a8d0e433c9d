/**
 * The bench's programs on the SDK: a stream and datagrams from a sending program through daemon A
 * and daemon B to a receiving program, with the CPU time each of the four processes spent per GB
 * moved. The stream's sending program is this process; the others are child processes running this
 * file: `node programs.ts --stream-receiver <home> <port>`, `--datagram-receiver <home> <port>
 * <size>` or `--datagram-sender <home> <node> <port> <size> <count> <mbps>`. Each of those calls
 * `tuneGc()` as it starts, as docs/daemon.md advises a program that moves bulk data; this process,
 * which the bench's other sections share, is left as V8 sets it.
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Pilot } from "../../daemon/src/sdk/pilot.ts";
import { tuneGc } from "../../daemon/src/gc-tuning.ts";
import type { Daemon } from "../../daemon/test/e2e/cluster.ts";
import { cpuPerGb, keepInFlight, median, medianCpu, progress, round, sleep, wallClock } from "./measure.ts";

export const CHUNK = 1 << 20;
export const STREAM_RUNS = 3;
/**
 * Each stream measure starts with runs of this size that are not counted, as many as fit in
 * WARM_UP_SECONDS (one at least). A daemon that has just started compiles its hot code while it
 * moves its first data, and V8 optimizes a function after so many calls, not so many bytes: at MTU
 * 9000 a packet carries six times what it does at 1500, so one 64 MiB run warms a daemon six times
 * less there (a first 256 MiB run after it came out at 134 to 171 MB/s against 185 to 226 for the
 * runs after). The measured runs are of a daemon that has been working.
 */
export const WARM_UP_MIB = 64;
const WARM_UP_SECONDS = 5;
/** A datagram measure ends once nothing more has arrived for this long. */
const DATAGRAMS_QUIET_MS = 500;
const PROGRAM = fileURLToPath(import.meta.url);
/** Ports the programs listen on: a new one each measure, as a previous receiver may not be gone yet. */
let nextPort = 7100;

/**
 * The stream's content: deterministic and never constant. Chunk i is a 1 MiB window into 2 MiB of
 * xorshift output, at an offset that moves with i. Both programs build the same pool.
 */
let built: Buffer | undefined;
function contentPool(): Buffer {
  if (built) return built;
  const pool = Buffer.alloc(2 * CHUNK);
  let x = 0x9e3779b9;
  for (let i = 0; i < pool.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pool.writeUInt32LE(x >>> 0, i);
  }
  return (built = pool);
}

const chunkStart = (i: number) => (i * 4099) % CHUNK;

export function streamContent(mib: number) {
  const pool = contentPool();
  return { chunk: (i: number) => pool.subarray(chunkStart(i), chunkStart(i) + CHUNK), chunks: mib, bytes: mib * CHUNK };
}

/**
 * Whether `piece` is the content from byte `offset` on, compared byte for byte. The receiving
 * program shares the two cores with the daemons it measures: hashing what it read with SHA-256
 * took about 0.55 CPU-seconds per GB, a third of all it did, where this comparison is a memcmp.
 */
export function isContentAt(piece: Buffer, offset: number): boolean {
  const pool = contentPool();
  for (let at = 0; at < piece.length; ) {
    const within = (offset + at) % CHUNK;
    const n = Math.min(piece.length - at, CHUNK - within);
    const start = chunkStart(Math.floor((offset + at) / CHUNK)) + within;
    if (!piece.subarray(at, at + n).equals(pool.subarray(start, start + n))) return false;
    at += n;
  }
  return true;
}

interface StreamReport {
  bytes: number;
  /** Whether every byte read was the content's byte at its place. */
  matches: boolean;
  /** Wall-clock ms at the first and the last byte read by the receiving program. */
  firstAt: number;
  lastAt: number;
}

interface DatagramsSent {
  /** Wall-clock ms at the first measured send, and how long all of them took. */
  startedAt: number;
  ms: number;
  failed: number;
}

interface DatagramReport {
  count: number;
  bytes: number;
  /** Wall-clock ms at the last datagram of the measured size. */
  lastAt: number;
}

/** The next IPC message from a child, or an error if it exits or stays silent for `ms`. */
function nextMessage<T>(child: ChildProcess, ms = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const settle = (e: Error | null, m?: unknown) => {
      clearTimeout(timer);
      child.off("message", onMessage).off("exit", onExit);
      if (e) reject(e);
      else resolve(m as T);
    };
    const onMessage = (m: unknown) => settle(null, m);
    const onExit = (code: number | null) => settle(new Error(`the program exited (${code})`));
    const timer = setTimeout(() => settle(new Error(`nothing from the program in ${ms} ms`)), ms);
    child.on("message", onMessage).on("exit", onExit);
  });
}

/** Starts a program (this file, in a mode) and waits until it says it is ready. */
async function program(args: string[]): Promise<ChildProcess> {
  const child = fork(PROGRAM, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await nextMessage(child);
  return child;
}

/**
 * One stream run: this process dials the receiving program (listening on `port` through B's
 * daemon) through A's daemon and writes the content in 1 MiB chunks, waiting for 'drain' whenever
 * write() asks to, then ends. Throughput counts from just before the dial to the last byte the
 * receiver read.
 */
async function streamOnce(sender: Pilot, a: Daemon, b: Daemon, receiver: { child: ChildProcess; port: number }, content: ReturnType<typeof streamContent>) {
  const cpu = cpuPerGb({ sender: process.pid, daemon_a: a.pid, daemon_b: b.pid, receiver: receiver.child.pid! });
  const gcs = await majorGcsPerGb(a, b);
  const report = nextMessage<StreamReport | { error: string }>(receiver.child);
  report.catch(() => undefined); // a failed run is reported by what throws below, not by this
  const started = wallClock();
  const conn = await sender.dial(b.nodeId, receiver.port);
  const failed = new Promise<never>((_, reject) => conn.once("error", reject));
  conn.resume(); // nothing comes back but the end
  const write = async () => {
    for (let i = 0; i < content.chunks; i++) if (!conn.write(content.chunk(i))) await once(conn, "drain");
    conn.end();
  };
  await Promise.race([write(), failed]);
  const r = await Promise.race([report, failed]);
  if ("error" in r) throw new Error(`the receiving program's connection failed: ${r.error}`);
  const cpu_s_per_gb = cpu(r.bytes);
  const major_gcs_per_gb = await gcs(r.bytes);
  conn.destroy();
  return {
    mbps: round(r.bytes / ((r.lastAt - started) / 1000) / 1e6),
    seconds: round((r.lastAt - started) / 1000),
    first_byte_ms: round(r.firstAt - started),
    bytes: r.bytes,
    intact: r.bytes === content.bytes && r.matches,
    cpu_s_per_gb,
    major_gcs_per_gb,
  };
}

/**
 * `runs` stream runs of `mib` MiB from a program on A to a program on B, after warm-up runs of
 * WARM_UP_MIB: each run, its median, and the median CPU per GB of each process. As a server
 * would, the receiving program runs for the whole measure and takes each run's connection.
 */
export async function streamThroughput(a: Daemon, b: Daemon, mib: number, runs = STREAM_RUNS) {
  const content = streamContent(mib);
  const port = nextPort++;
  const receiver = { child: await program(["--stream-receiver", b.home, String(port)]), port };
  const sender = await Pilot.connect(a.home);
  try {
    const measure = async (what: string, c: ReturnType<typeof streamContent>) => {
      const r = await streamOnce(sender, a, b, receiver, c);
      progress(`${what}: ${r.mbps} MB/s${r.intact ? "" : " — CONTENT MISMATCH"}`);
      return r;
    };
    const warmUps = [];
    const warmingSince = performance.now();
    do warmUps.push(await measure(`stream warm-up ${warmUps.length + 1}, ${WARM_UP_MIB} MiB, not counted`, streamContent(WARM_UP_MIB)));
    while (performance.now() - warmingSince < WARM_UP_SECONDS * 1000);
    const results = [];
    for (let run = 0; run < runs; run++) results.push(await measure(`stream run ${run + 1}`, content));
    return {
      size_mib: mib,
      chunk_bytes: CHUNK,
      median_mbps: median(results.map((r) => r.mbps)),
      warm_up: { size_mib: WARM_UP_MIB, runs_mbps: warmUps.map((r) => r.mbps) },
      intact: [...warmUps, ...results].every((r) => r.intact),
      cpu_s_per_gb: medianCpu(results.map((r) => r.cpu_s_per_gb)),
      major_gcs_per_gb: medianCpu(results.map((r) => r.major_gcs_per_gb)),
      runs: results,
    };
  } finally {
    sender.close();
    receiver.child.kill();
  }
}

/**
 * `count` datagrams of `payload` bytes from a program on A to a program on B, after a warm-up
 * that is not counted. Unpaced, IN_FLIGHT sends are kept queued, and what any buffer on
 * the way cannot hold is lost; with `mbps`, sends are paced to that rate. MB/s is what arrived over
 * the time from the first send to the last arrival.
 */
export async function datagramThroughput(a: Daemon, b: Daemon, o: { payload: number; count: number; mbps?: number }) {
  const port = nextPort++;
  const receiver = await program(["--datagram-receiver", b.home, String(port), String(o.payload)]);
  // The sending program is a process of its own too: this one runs the local registry, whose
  // async hooks would tax every promise a send makes.
  const sender = await program(["--datagram-sender", a.home, String(b.nodeId), String(port), String(o.payload), String(o.count), String(o.mbps ?? 0)]);
  try {
    const sent = await nextMessage<DatagramsSent>(sender);
    let report: DatagramReport;
    for (let last = -1; ; last = report.count) {
      receiver.send("report");
      report = await nextMessage<DatagramReport>(receiver);
      if (report.count === o.count || report.count === last) break;
      await sleep(DATAGRAMS_QUIET_MS);
    }
    if (sent.failed) progress(`${sent.failed} datagram sends failed`);
    return {
      payload_bytes: o.payload,
      count: o.count,
      offered_mbps: round((o.count * o.payload) / (sent.ms / 1000) / 1e6),
      mbps: round(report.bytes / ((report.lastAt - sent.startedAt) / 1000) / 1e6),
      delivered: round((report.count / o.count) * 100),
    };
  } finally {
    sender.kill();
    receiver.kill();
  }
}

/** A stream measure's line in the table: the median, each run, and whether the content arrived intact. */
export const streamResult = (s: { median_mbps: number; runs: { mbps: number }[]; intact: boolean }) =>
  `${s.median_mbps} MB/s (runs ${s.runs.map((r) => r.mbps).join(", ")}; ${s.intact ? "content checked" : "CONTENT MISMATCH"})`;

/** The daemons' full garbage collections (`pilotctl info`'s memory.major_gcs) per GB moved from here on. */
async function majorGcsPerGb(a: Daemon, b: Daemon): Promise<(bytes: number) => Promise<{ daemon_a: number; daemon_b: number }>> {
  const majors = async (d: Daemon) => ((await d.run("info"))["memory"] as { major_gcs: number }).major_gcs;
  const [a0, b0] = await Promise.all([majors(a), majors(b)]);
  return async (bytes) => {
    const [a1, b1] = await Promise.all([majors(a), majors(b)]);
    return { daemon_a: round((a1 - a0) / (bytes / 1e9)), daemon_b: round((b1 - b0) / (bytes / 1e9)) };
  };
}

/** The daemons' full garbage collections per GB of a stream measure, as a line in the table. */
export const gcResult = (g: Awaited<ReturnType<typeof streamThroughput>>["major_gcs_per_gb"]) => `daemon A ${g.daemon_a} · daemon B ${g.daemon_b}`;

/** The CPU seconds per GB of a stream measure's four processes, as a line in the table. */
export const cpuResult = (c: Awaited<ReturnType<typeof streamThroughput>>["cpu_s_per_gb"]) =>
  `sending program ${c.sender} · daemon A ${c.daemon_a} · daemon B ${c.daemon_b} · receiving program ${c.receiver}`;

/** The receiving program of the stream measure: reads one connection to its end and reports. */
async function streamReceiver(home: string, port: number): Promise<void> {
  const pilot = await Pilot.connect(home);
  await pilot.listen(port, (conn) => {
    let matches = true;
    let bytes = 0;
    let firstAt = 0;
    let lastAt = 0;
    conn.on("data", (chunk: Buffer) => {
      lastAt = wallClock();
      if (!bytes) firstAt = lastAt;
      matches &&= isContentAt(chunk, bytes);
      bytes += chunk.length;
    });
    // One message per connection: whatever befalls it once reported would pass for the next run's.
    let reported = false;
    const report = (m: StreamReport | { error: string }) => {
      if (!reported) process.send!(m);
      reported = true;
    };
    conn.on("end", () => {
      report({ bytes, matches, firstAt, lastAt });
      conn.end();
    });
    conn.on("error", (e: Error & { code?: string }) => report({ error: e.code ?? e.message }));
  });
  process.send!({ listening: true });
}

/**
 * The sending program of the datagram measure. Unpaced, it keeps IN_FLIGHT sends queued, and what
 * any buffer on the way cannot hold is lost; with `mbps` above 0, sends are paced to that rate.
 * Before the measure it warms up as the stream measure does, with datagrams one byte short, which
 * the receiver does not count: at MTU 9000 the measure is some 7,500 datagrams, and without a
 * warm-up both programs and the daemons' datagram path were measured while V8 was still compiling
 * them (62 MB/s against 113 after 64 MiB of warm-up).
 */
async function datagramSender(home: string, node: number, port: number, size: number, count: number, mbps: number): Promise<void> {
  if (size < 2) throw new Error("the measure's datagrams are 2 bytes at least: those of the warm-up are one byte shorter, and one of 1 byte opens the tunnel");
  const pilot = await Pilot.connect(home);
  // Opens the tunnel; the receiver counts only datagrams of the measured size.
  await pilot.sendDatagram(node, port, Buffer.of(0));
  const sendAll = async (payload: Buffer, n: number, rate: number) => {
    const startedAt = wallClock();
    let failed = 0;
    const paced = (i: number) => startedAt + ((i * payload.length) / (rate * 1e6)) * 1000 - wallClock();
    await keepInFlight(
      n,
      (_, settled) =>
        void pilot.sendDatagram(node, port, payload).then(settled, () => {
          failed++;
          settled();
        }),
      rate ? paced : undefined,
    );
    return { startedAt, ms: wallClock() - startedAt, failed };
  };
  const warmingSince = performance.now();
  do await sendAll(Buffer.alloc(size - 1, 9), Math.ceil((WARM_UP_MIB << 20) / (size - 1)), 0);
  while (performance.now() - warmingSince < WARM_UP_SECONDS * 1000);
  // What the warm-up left on the way arrives before the measure begins.
  await sleep(DATAGRAMS_QUIET_MS);
  process.send!({ ready: true });
  const sent = await sendAll(Buffer.alloc(size, 9), count, mbps);
  process.send!(sent satisfies DatagramsSent);
  pilot.close();
}

/** The receiving program of the datagram measure: counts datagrams of `size` bytes, and says how many when asked. */
async function datagramReceiver(home: string, port: number, size: number): Promise<void> {
  const pilot = await Pilot.connect(home);
  const report: DatagramReport = { count: 0, bytes: 0, lastAt: 0 };
  await pilot.receiveDatagrams(port, (d) => {
    if (d.data.length !== size) return;
    report.count++;
    report.bytes += d.data.length;
    report.lastAt = wallClock();
  });
  process.on("message", () => process.send!(report));
  process.send!({ listening: true });
}

if (process.argv[1] === PROGRAM) {
  tuneGc();
  const [mode, home, ...rest] = process.argv.slice(2);
  const n = rest.map(Number);
  if (mode === "--stream-receiver") await streamReceiver(home!, n[0]!);
  else if (mode === "--datagram-receiver") await datagramReceiver(home!, n[0]!, n[1]!);
  else if (mode === "--datagram-sender") await datagramSender(home!, n[0]!, n[1]!, n[2]!, n[3]!, n[4]!);
  else throw new Error(`usage: programs.ts --stream-receiver <home> <port> | --datagram-receiver <home> <port> <size> | --datagram-sender <home> <node> <port> <size> <count> <mbps>`);
}
