/**
 * How the daemon's process hands UDP datagrams to the kernel: several in one system call.
 *
 * Node sends each datagram the moment `socket.send` is called, one `sendmsg` each (libuv's
 * uv_udp_try_send). A stream at MTU 1500 is tens of thousands of packets a second, and that system
 * call, with the kernel's entry and exit around it, was the sending daemon's largest single cost.
 * Started with Node's `--test-udp-no-try-send`, Node queues each datagram in libuv instead
 * (uv_udp_send, the path it takes anyway whenever the socket is busy): the first of a turn of the
 * event loop still goes at once, and the rest of that turn go together when the loop next polls, up to 20
 * per `sendmmsg`. Same datagrams, same order, the kernel's work per packet unchanged, a fraction of
 * the calls: in the path lab at MTU 1500 the sending daemon spent about 23 % less CPU per GB (the
 * receiving one about 10 % more: on a veth part of its kernel work moves from the sender's calls).
 *
 * Node keeps that option for its own tests (it has been there since Node 12 and still is), so the
 * daemon takes it only where it is safe and where it can:
 * - libuv 1.50 or later. There a datagram the kernel refuses (no route, a firewall, too large)
 *   fails alone; before, the error failed the whole batch of up to 20 around it.
 * - `process.execve` (Node 22.15 and later, not on Windows), to restart the process in place with
 *   the option: same process ID, arguments and environment, before anything is opened.
 * - This Node still knows the option (`node <option> --version` does not exit with "bad option").
 * - PILOT_SEND_BATCHING is not `off`.
 * Otherwise it sends one by one, as Node does by default, and says why in its log.
 *
 * Batching asks two things of the code that sends. A buffer given to `socket.send` is read when the
 * batch goes, so it must not change after the call: every datagram the daemon sends is a buffer of
 * its own (sealed frames, STUN and TURN messages). And a socket closed, or a process exited, right
 * after a send loses what is still queued: a stopping daemon's RSTs, say. closeWhenSent waits.
 */
import { spawnSync } from "node:child_process";
import type { Socket } from "node:dgram";
import { PilotError } from "./errors.ts";

export const BATCHING_OPTION = "--test-udp-no-try-send";

/** What decides whether a process can batch; this process's own by default. */
export interface NodeRuntime {
  uv: string;
  execve: boolean;
  /** Whether a Node started from this binary accepts the option. */
  knowsOption: () => boolean;
}

/** Whether the Node at `execPath` accepts the option: `--version` after it answers at once, and an unknown option exits 9. */
export function acceptsOption(execPath: string): boolean {
  return spawnSync(execPath, [BATCHING_OPTION, "--version"], { stdio: "ignore", timeout: 10_000 }).status === 0;
}

/** `process.execve`, where this Node has it: the package also runs on Node 20, whose types lack it. */
const { execve } = process as { execve?: (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => void };

const thisNode: NodeRuntime = {
  uv: process.versions.uv ?? "0.0.0",
  execve: typeof execve === "function",
  knowsOption: () => acceptsOption(process.execPath),
};

/** Whether this process sends in batches (`pilotctl info`'s `send_batching`). */
export function sendsInBatches(): boolean {
  return process.execArgv.includes(BATCHING_OPTION);
}

type Environment = Readonly<Record<string, string | undefined>>;

/** PILOT_SEND_BATCHING, `on` when unset; any other value than on or off throws. */
function setting(env: Environment): "on" | "off" {
  const value = env["PILOT_SEND_BATCHING"] ?? "on";
  if (value === "on" || value === "off") return value;
  throw new PilotError("invalid_argument", `PILOT_SEND_BATCHING must be on or off, not ${JSON.stringify(value)}`, "unset it, or set it to off to send datagrams one by one");
}

/** Why a daemon process with this runtime and environment would send one by one, or null when it can batch. */
export function whyNotBatching(env: Environment, node: NodeRuntime = thisNode): string | null {
  if (setting(env) === "off") return "PILOT_SEND_BATCHING is off";
  const [, major = "0", minor = "0"] = /^(\d+)\.(\d+)\./.exec(node.uv) ?? [];
  if (Number(major) < 1 || (Number(major) === 1 && Number(minor) < 50)) return `this Node's libuv is ${node.uv}; batches need 1.50 or later, which a newer Node has`;
  if (!node.execve) return "this Node cannot restart a process in place (process.execve: Node 22.15 or later, not on Windows)";
  if (!node.knowsOption()) return `this Node no longer accepts ${BATCHING_OPTION}`;
  return null;
}

/**
 * Replaces this process by itself with the option, when it is not batching yet and can; then this
 * never returns. The daemon's two ways in (bin/pilot-daemon.js, `pilotctl daemon start --foreground`)
 * call it before the daemon's modules load: loading them twice would cost about 0.7 s of CPU. A bad
 * PILOT_SEND_BATCHING restarts nothing, and the daemon's start refuses it (oneByOne).
 */
export function restartBatching(env: Environment): void {
  if (sendsInBatches()) return;
  try {
    if (whyNotBatching(env) !== null) return;
  } catch {
    return;
  }
  execve!.call(process, process.execPath, [process.execPath, BATCHING_OPTION, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

/** For the daemon's start: why it sends one by one, or null when it batches. A bad PILOT_SEND_BATCHING throws. */
export function oneByOne(env: Environment): string | null {
  setting(env);
  if (sendsInBatches()) return null;
  return whyNotBatching(env) ?? `the process was not restarted with ${BATCHING_OPTION}`;
}

/** How long closeWhenSent waits at most: a socket that cannot send must not hold a daemon's stop up. */
const DRAIN_MS = 1000;

/** Closes `socket` once nothing it was given to send is queued any more, or after DRAIN_MS. */
export async function closeWhenSent(socket: Socket): Promise<void> {
  const deadline = performance.now() + DRAIN_MS;
  // A turn at least: a send to a name waits for its lookup first (peers' literal addresses do not).
  do await new Promise((resolve) => setImmediate(resolve));
  while (socket.getSendQueueCount() > 0 && performance.now() < deadline);
  socket.close();
}
