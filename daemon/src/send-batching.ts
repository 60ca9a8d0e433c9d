/**
 * How the daemon's process hands UDP datagrams to the kernel: several in one system call.
 *
 * Node sends each datagram the moment `socket.send` is called, one `sendmsg` each (libuv's
 * uv_udp_try_send). A stream at MTU 1500 is tens of thousands of packets a second, and that system
 * call, with the kernel's entry and exit around it, was the sending daemon's largest single cost.
 * Started with Node's `--test-udp-no-try-send`, Node queues each datagram in libuv instead
 * (uv_udp_send, the path it takes anyway whenever the socket is busy): the first of a turn of the
 * event loop still goes at once, and libuv sends the rest, up to 20 per `sendmmsg`, in its next
 * pending phase (right after the poll phase for sends made in I/O callbacks, at the start of the next
 * turn for sends made in timers). Same datagrams, same order, a fraction of the system calls; the
 * README's Measured section has what it saves.
 *
 * Node keeps that option for its own tests (it has been there since Node 12 and still is), so the
 * daemon takes it only where it is safe and where it can:
 * - libuv 1.50 or later. There a datagram the kernel refuses (no route, a firewall, too large)
 *   fails alone; before, the error failed the whole batch of up to 20 around it.
 * - The option can reach the process. `pilotctl daemon start` starts the daemon's Node with it; a
 *   process that is already the daemon's (`pilot-daemon` run directly, `daemon start --foreground`)
 *   replaces itself with `process.execve` (Node 22.15 and later, not on Windows): the same process
 *   ID and environment, its arguments with the option added, before the daemon's modules load.
 * - This Node still knows the option (`node <option> --version` does not exit with "bad option").
 * - PILOT_SEND_BATCHING is not `off`.
 * Otherwise it sends one by one, as Node does by default, and says why in its log. The option given
 * to Node by hand does not outrank them: such a process restarts itself without it, or refuses to start.
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
  /** Whether a Node started from this binary accepts the option. */
  knowsOption: () => boolean;
}

/**
 * Whether the Node at `execPath` accepts the option. Asked with `--version`, which answers at once;
 * an option Node does not know exits 9 first. A binary that cannot be run does not.
 */
export function acceptsOption(execPath: string): boolean {
  try {
    return spawnSync(execPath, [BATCHING_OPTION, "--version"], { stdio: "ignore", timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
}

/**
 * `process.execve`, where this Node has it: the package also runs on Node 20, whose types lack it.
 * Node 22 aborts the process when the call fails rather than throwing; acceptsOption has just run
 * the same binary.
 */
const { execve } = process as { execve?: (file: string, args: readonly string[], env: NodeJS.ProcessEnv) => void };

const thisNode: NodeRuntime = {
  uv: process.versions.uv ?? "0.0.0",
  knowsOption: () => acceptsOption(process.execPath),
};

/** Whether this process, or one with these Node options, sends in batches (`pilotctl info`'s `send_batching`). */
export function sendsInBatches(execArgv: readonly string[] = process.execArgv): boolean {
  let on = false;
  for (const option of execArgv) on = spelledAs(option) ?? on;
  return on;
}

/**
 * Whether a Node option turns batching on (true) or off (false), or is another option. Node reads
 * underscores as dashes, ignores a value after `=` (`=false` turns it on), and takes the last of
 * the option and its `--no-` form; each spelling was checked against the system calls it makes.
 */
function spelledAs(option: string): boolean | undefined {
  const name = option.split("=", 1)[0]!.replaceAll("_", "-");
  if (name === BATCHING_OPTION) return true;
  if (name === `--no-${BATCHING_OPTION.slice(2)}`) return false;
  return undefined;
}

type Environment = NodeJS.ProcessEnv;

/** Set in the environment of a process restarted with the option: it is never restarted again. */
const RESTARTED = "PILOT_SEND_BATCHING_RESTARTED";

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
  if (!node.knowsOption()) return `this Node no longer accepts ${BATCHING_OPTION}`;
  return null;
}

/**
 * Whether a daemon started from this process should get the option: `pilotctl daemon start` passes
 * it to the Node it spawns. A bad PILOT_SEND_BATCHING throws, before anything is started.
 */
export function batchingOptions(env: Environment = process.env): string[] {
  return whyNotBatching(env) === null ? [BATCHING_OPTION] : [];
}

/**
 * This process's runtime. One that runs with the option knows it: asking a new Node would cost a
 * process start for an answer already given.
 */
const thisProcess = (): NodeRuntime => (sendsInBatches() ? { ...thisNode, knowsOption: () => true } : thisNode);

/**
 * Replaces this process by itself with the option where it can batch and lacks it, or without it
 * where it has it and may not (the option passed by hand, with PILOT_SEND_BATCHING=off or on an older
 * libuv: the gates decide, not how it was started); then this never returns. For a process that is
 * already the daemon's (bin/pilot-daemon.js run directly, `pilotctl daemon start --foreground`),
 * before the daemon's modules load: loading them twice would cost about 0.7 s of CPU. A bad
 * PILOT_SEND_BATCHING restarts nothing, and the daemon's start refuses it (whyOneByOne).
 */
export function restartBatching(): void {
  // Once only: a Node that kept the option but no longer listed it in execArgv would otherwise
  // restart the process forever. Programs the daemon starts do not inherit the mark.
  const restarted = process.env[RESTARTED] !== undefined;
  delete process.env[RESTARTED];
  if (restarted || execve === undefined) return;
  try {
    setting(process.env);
  } catch {
    return;
  }
  const batching = sendsInBatches();
  if (batching === (whyNotBatching(process.env, thisProcess()) === null)) return;
  // Every spelling of the option and its negation goes; the option comes back first where it should.
  const others = process.execArgv.filter((o) => spelledAs(o) === undefined);
  const options = batching ? others : [BATCHING_OPTION, ...others];
  execve!.call(process, process.execPath, [process.execPath, ...options, ...process.argv.slice(1)], { ...process.env, [RESTARTED]: "1" });
}

/**
 * For the daemon's start: why it sends one by one, or null when it batches. A bad
 * PILOT_SEND_BATCHING throws, and so does the option in a process that may not batch and could not
 * restart itself without it.
 */
export function whyOneByOne(env: Environment): string | null {
  setting(env);
  if (sendsInBatches()) {
    const why = whyNotBatching(env, thisProcess());
    if (why === null) return null;
    throw new PilotError("invalid_argument", `this process was started with ${BATCHING_OPTION}, but ${why}`, `start it without ${BATCHING_OPTION}`);
  }
  return (
    whyNotBatching(env) ??
    (execve === undefined
      ? `it was not started with ${BATCHING_OPTION}, and this Node cannot restart a process in place (process.execve: Node 22.15 or later, not on Windows); start it with pilotctl daemon start`
      : `the process was not started with ${BATCHING_OPTION}`)
  );
}

/** How long closeWhenSent waits at most: a socket that cannot send must not hold a daemon's stop up. */
const DRAIN_MS = 1000;

/** What `socket` still has queued to send: nothing once it is closed. */
function queued(socket: Socket): number {
  try {
    return socket.getSendQueueCount();
  } catch {
    return 0;
  }
}

/** Closes `socket` once nothing it was given to send is queued any more, or after DRAIN_MS. */
export async function closeWhenSent(socket: Socket): Promise<void> {
  const deadline = performance.now() + DRAIN_MS;
  // A turn at least: a send to a name waits for its lookup first (peers' literal addresses do not).
  do await new Promise((resolve) => setImmediate(resolve));
  while (queued(socket) > 0 && performance.now() < deadline);
  try {
    socket.close();
  } catch {
    // Closed already (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to send.
  }
}
