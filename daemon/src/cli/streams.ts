/**
 * pilotctl's stream commands (connect, send, recv, bench), through the SDK. Arguments arrive
 * validated from pilotctl.ts; failures are PilotErrors, the daemon's keeping their codes.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { PilotError } from "../errors.ts";
import { ECHO_PORT } from "../wire/packet.ts";
import { Pilot, type PilotConnection } from "../sdk/pilot.ts";

/** The most one message or reply may hold: pilotctl keeps it in memory and prints it as JSON. */
const MAX_MESSAGE = 16 << 20;
export const MAX_BENCH_MB = 1024;
const MiB = 1 << 20;
const BENCH_CHUNK = 64 << 10;

const tooLarge = (what: string) =>
  new PilotError("too_large", `${what} exceeds pilotctl's ${MAX_MESSAGE / MiB} MiB limit`, "send bulk data with the SDK (pilot.dial) instead of pilotctl");

/** A deadline for a whole command: its signal aborts once `seconds` have passed. */
export function deadline(seconds: number) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), seconds * 1000);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** Dials before the deadline; a dial that completes after it is closed at once. */
export async function dialBefore(pilot: Pilot, target: string, port: number, signal: AbortSignal, seconds: number): Promise<PilotConnection> {
  const dialing = pilot.dial(target, port);
  const timedOut = new Promise<never>((_, reject) =>
    signal.addEventListener("abort", () => reject(new PilotError("timeout", `no connection to ${target} port ${port} within ${seconds} s`, "the node may be offline or unreachable; raise --timeout or try again")), { once: true }),
  );
  try {
    return await Promise.race([dialing, timedOut]);
  } catch (e) {
    dialing.then((c) => c.destroy(), () => undefined);
    throw e;
  }
}

/** Reads stdin to its end: the message `connect` sends when there is no --message. */
export async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) process.stderr.write("reading the message from stdin; end it with Ctrl-D\n");
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_MESSAGE) throw tooLarge("the message on stdin");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * connect and send: opens a stream, sends the message and half-closes, then reads the reply until
 * the peer ends its side. A peer that answers without ending (a request/response service) still
 * gets its answer printed once the timeout passes, flagged `timeout: true`.
 */
export async function exchange(target: string, port: number, message: Buffer, seconds: number) {
  const pilot = await Pilot.connect();
  const { signal, clear } = deadline(seconds);
  try {
    const conn = await dialBefore(pilot, target, port, signal, seconds);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let sentAll = false;
    const ended = new Promise<boolean>((resolve, reject) => {
      conn.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_MESSAGE) conn.destroy(tooLarge("the reply"));
        else chunks.push(chunk);
      });
      conn.on("end", () => resolve(false));
      conn.on("error", reject);
      signal.addEventListener("abort", () => resolve(true), { once: true });
    });
    conn.end(message, () => (sentAll = true));
    const timedOut = await ended;
    if (timedOut) {
      conn.destroy();
      // Not even the message went out: nothing to report but the failure.
      if (!sentAll) throw new PilotError("timeout", `could not send the message to ${target} port ${port} within ${seconds} s`, "the peer is not reading; raise --timeout or try again");
    }
    const response = Buffer.concat(chunks);
    return { target, node_id: conn.remote.nodeId, port, sent: message.toString("utf8"), response: response.toString("utf8"), response_bytes: response.length, timeout: timedOut };
  } finally {
    clear();
    pilot.close();
  }
}

/**
 * recv: accepts stream connections on a port; each one's bytes, read to its end, are a message.
 * `ready` hears once the port is bound.
 */
export async function receive(port: number, count: number, seconds: number, ready?: (line: string) => void) {
  const pilot = await Pilot.connect();
  const messages: Record<string, unknown>[] = [];
  const open = new Set<PilotConnection>();
  let finish!: (timedOut: boolean) => void;
  const finished = new Promise<boolean>((resolve) => (finish = resolve));
  let done = false;
  const onConnection = (conn: PilotConnection) => {
    if (done) return void conn.destroy();
    open.add(conn);
    const chunks: Buffer[] = [];
    let bytes = 0;
    conn.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      // One sender cannot exhaust our memory: its connection is reset and is no message.
      if (bytes > MAX_MESSAGE) conn.destroy();
      else chunks.push(chunk);
    });
    // A connection reset before its end is no message either.
    conn.on("error", () => open.delete(conn));
    conn.on("end", () => {
      open.delete(conn);
      if (done) return void conn.destroy();
      // Ending our side too tells the sender its message arrived whole.
      conn.end();
      const data = Buffer.concat(chunks);
      messages.push({ seq: messages.length, src_addr: conn.remote.address, node_id: conn.remote.nodeId, src_port: conn.remote.port, port: conn.localPort, data: data.toString("utf8"), bytes: data.length });
      if (messages.length >= count) finish(false);
    });
  };
  try {
    const server = await pilot.listen(port, onConnection);
    ready?.(`listening for streams on port ${port}`);
    const timer = setTimeout(() => finish(true), seconds * 1000);
    const timedOut = await finished;
    done = true;
    clearTimeout(timer);
    server.close();
    for (const conn of open) conn.destroy();
    return { messages, timeout: timedOut };
  } finally {
    pilot.close();
  }
}

/**
 * bench: sends sizeMb MiB of random bytes to the peer's echo port while reading the echo back,
 * and checks the echo against what was sent (SHA-256 of each). Rates are in MiB/s.
 */
export async function bench(target: string, sizeMb: number, seconds: number, progress?: (line: string) => void) {
  const total = sizeMb * MiB;
  const pilot = await Pilot.connect();
  const { signal, clear } = deadline(seconds);
  let sent = 0;
  const timeoutError = () => new PilotError("timeout", `bench did not finish within ${seconds} s (${(sent / MiB).toFixed(1)} of ${sizeMb} MiB sent)`, "raise --timeout or bench a smaller size");
  try {
    const conn = await dialBefore(pilot, target, ECHO_PORT, signal, seconds);
    signal.addEventListener("abort", () => conn.destroy(timeoutError()), { once: true });
    const start = performance.now();
    const sentHash = createHash("sha256");
    const recvHash = createHash("sha256");
    let received = 0;
    let reported = 0;
    // Progress follows the echo: writes go to the send buffer faster than the path carries them,
    // so a count of bytes written reached 100 % while almost nothing had made the round trip.
    conn.on("data", (chunk: Buffer) => {
      recvHash.update(chunk);
      received += chunk.length;
      // An echo that sends back more than it was sent fails the check; the progress stops at 100 %.
      const tenths = Math.min(10, Math.floor((received * 10) / total));
      if (progress && tenths > reported) {
        reported = tenths;
        progress(`bench: ${tenths * 10}% echoed (${(received / MiB).toFixed(1)} of ${sizeMb} MiB; ${(sent / MiB).toFixed(1)} MiB sent)`);
      }
    });
    // Rejects on the connection's error, so a reset or the timeout during sending surfaces here too.
    const echoed = once(conn, "end").then(() => performance.now());
    echoed.catch(() => undefined);
    while (sent < total) {
      const chunk = randomBytes(Math.min(BENCH_CHUNK, total - sent));
      sentHash.update(chunk);
      sent += chunk.length;
      if (!conn.write(chunk)) await once(conn, "drain");
    }
    conn.end();
    await once(conn, "finish");
    const sendDone = performance.now();
    const end = await echoed;
    const [sendMs, totalMs] = [sendDone - start, end - start];
    return {
      target,
      node_id: conn.remote.nodeId,
      sent_bytes: sent,
      recv_bytes: received,
      send_duration_ms: round(sendMs, 1),
      total_duration_ms: round(totalMs, 1),
      send_mbps: round(sent / MiB / (sendMs / 1000), 2),
      total_mbps: round(received / MiB / (totalMs / 1000), 2),
      verified: received === sent && sentHash.digest("hex") === recvHash.digest("hex"),
    };
  } catch (e) {
    throw signal.aborted ? timeoutError() : e;
  } finally {
    clear();
    pilot.close();
  }
}

/**
 * traceroute: how long a stream to the peer takes to open (`setup_ms`: the tunnel's key exchange,
 * if there is no tunnel yet, and the stream's handshake), then `samples` round trips of 64 bytes
 * through its echo port over that stream. The overlay has no hops to list: one tunnel is the route.
 */
export async function traceroute(target: string, samples: number, seconds: number) {
  const pilot = await Pilot.connect();
  const { signal, clear } = deadline(seconds);
  try {
    const start = performance.now();
    const conn = await dialBefore(pilot, target, ECHO_PORT, signal, seconds);
    const setup = performance.now() - start;
    signal.addEventListener("abort", () => conn.destroy(new PilotError("timeout", `no echo from ${target} within ${seconds} s`, "raise --timeout or try again")), { once: true });
    const rtts: { rtt_ms: number; bytes: number }[] = [];
    const probe = Buffer.alloc(64, 0x2a);
    for (let i = 0; i < samples; i++) {
      const sent = performance.now();
      conn.write(probe);
      let echoed = 0;
      while (echoed < probe.length) echoed += ((await once(conn, "data")) as [Buffer])[0].length;
      rtts.push({ rtt_ms: round(performance.now() - sent, 2), bytes: echoed });
    }
    conn.destroy();
    return { target, node_id: conn.remote.nodeId, setup_ms: round(setup, 2), rtt_samples: rtts };
  } finally {
    clear();
    pilot.close();
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
