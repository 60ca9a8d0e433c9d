/**
 * Plain UDP between two Node processes: no encryption, no protocol, nothing but `dgram`. It is
 * the ceiling every encrypted measure is compared with, on loopback and across the path lab's veth,
 * and with its CPU seconds per GB it shows what the platform itself costs per datagram: the part of
 * our stream's CPU that no change to the protocol can remove.
 *
 * Both ends are child processes running this file, each behind an optional command prefix (the
 * path lab's `ip netns exec <namespace>`), and each prints "ready" once bound, the receiver with the
 * port it took. `plain-udp.ts --receiver` counts what arrives and, given a line on standard input,
 * prints {bytes, datagrams, lastAt}; `plain-udp.ts --sender <host> <port> <size> <count>`, given a
 * line, sends unpaced, keeping IN_FLIGHT sends queued (what the receiver's buffer cannot hold is
 * lost), and prints {startedAt}; one whose input closes first (the measure gave up) sends nothing.
 * Each lives on until its standard input closes, so its CPU time, counted from when both were ready
 * (start-up is not the platform's cost per datagram), can still be read.
 */
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { LineProcess } from "../../daemon/test/nat-lab/command.ts";
import { cpuPerGb, keepInFlight, round, sleep, wallClock } from "./measure.ts";

/** How long after the sender is done the receiver is asked what arrived: what is on the way lands by then. */
const QUIET_MS = 500;
const PROGRAM = fileURLToPath(import.meta.url);
/** How a program is started: this Node with the loader flags this process runs under (TypeScript). */
const NODE = [process.execPath, ...process.execArgv, PROGRAM];

export interface PlainUdpOptions {
  /** The receiver's address as the sender reaches it. */
  host: string;
  /** The UDP payload of each datagram, and how many are sent. */
  size: number;
  count: number;
  /** Command prefixes that place each end (a network namespace); none runs it here. */
  sender?: string[];
  receiver?: string[];
}

/** One unpaced measure: MB/s from the first send to the last arrival, the share delivered, and each end's CPU seconds per GB received. */
export async function plainUdp(o: PlainUdpOptions) {
  const receiver = new LineProcess([...(o.receiver ?? []), ...NODE, "--receiver"]);
  let sender: LineProcess | undefined;
  try {
    // The receiver takes any free port and says which: a fixed one may be taken.
    const port = await receiver.waitFor((lines) => /^ready (\d+)$/.exec(lines[0] ?? "")?.[1], "the UDP receiver to bind", 30_000);
    sender = new LineProcess([...(o.sender ?? []), ...NODE, "--sender", o.host, port, String(o.size), String(o.count)]);
    await sender.waitFor((lines) => (lines[0] === "ready" ? true : undefined), "the UDP sender to bind", 30_000);
    const cpu = cpuPerGb({ sender: sender.child.pid!, receiver: receiver.child.pid! });
    sender.send("go");
    const { startedAt } = await sender.waitFor((lines) => answer<{ startedAt: number }>(lines), "the UDP sender to finish", 600_000);
    await sleep(QUIET_MS);
    receiver.send("report");
    const report = await receiver.waitFor((lines) => answer<{ bytes: number; datagrams: number; lastAt: number }>(lines), "the UDP receiver's report", 30_000);
    return {
      payload_bytes: o.size,
      count: o.count,
      mbps: report.bytes ? round(report.bytes / ((report.lastAt - startedAt) / 1000) / 1e6) : 0,
      delivered: round((report.datagrams / o.count) * 100),
      // Per GB of nothing is no figure at all.
      cpu_s_per_gb: report.bytes ? cpu(report.bytes) : null,
    };
  } finally {
    await Promise.all([sender?.stop(), receiver.stop()]);
  }
}

/** The JSON line an end prints after "ready", once it has. */
const answer = <T>(lines: readonly string[]): T | undefined => (lines[1] === undefined ? undefined : (JSON.parse(lines[1]) as T));

/**
 * Prints `said` ("ready", and the receiver's port), then waits for a line on standard input: `told`
 * is whether one came before the input closed (the measure gave up), and `closed` ends when the
 * input does.
 */
async function ready(said: string): Promise<{ told: boolean; closed: Promise<void> }> {
  const input = createInterface({ input: process.stdin });
  const closed = new Promise<void>((r) => input.once("close", r));
  const line = new Promise<boolean>((r) => input.once("line", () => r(true)));
  console.log(said);
  const told = await Promise.race([line, closed.then(() => false)]);
  return { told, closed };
}

async function receive(): Promise<void> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
  let [bytes, datagrams, lastAt] = [0, 0, 0];
  socket.on("message", (m) => {
    bytes += m.length;
    datagrams++;
    lastAt = wallClock();
  });
  await new Promise<void>((r) => socket.bind(0, r));
  const { closed } = await ready(`ready ${socket.address().port}`);
  console.log(JSON.stringify({ bytes, datagrams, lastAt }));
  await closed;
  socket.close();
}

async function send(host: string, port: number, size: number, count: number): Promise<void> {
  const socket = createSocket({ type: "udp4", sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => socket.bind(0, r));
  const { told, closed } = await ready("ready");
  if (told) {
    const payload = Buffer.alloc(size, 7);
    const startedAt = wallClock();
    await keepInFlight(count, (_, settled) => socket.send(payload, port, host, settled));
    console.log(JSON.stringify({ startedAt }));
    await closed;
  }
  socket.close();
}

if (process.argv[1] === PROGRAM) {
  const [mode, ...n] = process.argv.slice(2);
  if (mode === "--receiver") await receive();
  else if (mode === "--sender") await send(n[0]!, Number(n[1]), Number(n[2]), Number(n[3]));
  else throw new Error("usage: plain-udp.ts --receiver | --sender <host> <port> <size> <count>");
}
