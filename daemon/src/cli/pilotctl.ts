/**
 * pilotctl: the Pilot command set over the daemon's local socket. `--json` (anywhere) prints
 * `{"status":"ok","data":{…}}` on stdout, or `{"status":"error","code","message","hint"}` on stderr
 * with exit code 1; usage errors exit 2. `pilotctl context` describes every command for agents.
 */
import { spawn } from "node:child_process";
import { constants, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { configure, DAEMON_FLAGS, runDaemon } from "../main.ts";
import { PilotError } from "../errors.ts";
import type { ArgsParam, CallName } from "../local-socket/contract.ts";
import { Pilot } from "../sdk/pilot.ts";
import { ensureHome, homePaths, openOwned } from "../store/home.ts";
import { COMMAND_LIST, ERROR_CODES, VERSION } from "./context.ts";
import { bench, exchange, MAX_BENCH_MB, readStdin, receive } from "./streams.ts";
import { MAX_NODE_ID } from "@pilot/protocol";

const OPTIONS = {
  ...DAEMON_FLAGS,
  json: { type: "boolean" },
  foreground: { type: "boolean" },
  token: { type: "string" },
  data: { type: "string" },
  message: { type: "string" },
  count: { type: "string" },
  timeout: { type: "string" },
  check: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

/** A mistake on the command line itself: exit code 2, as opposed to 1 for a failed command. */
class UsageError extends PilotError {}

const usage = (message: string, hint: string) => new UsageError("invalid_argument", message, hint);

function positiveInt(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^[1-9][0-9]*$/.test(text) || Number(text) > max) throw usage(`${what} must be a whole number from 1 to ${max}`, `got ${JSON.stringify(text ?? "")}`);
  return Number(text);
}

const need = (args: string[], n: number, synopsis: string, most = n) => {
  if (args.length < n || args.length > most) throw usage(`usage: pilotctl ${synopsis}`, "run pilotctl context for every command and its arguments");
};

const port = (text: string | undefined) => positiveInt(text, "port", 0xffff);
const nodeId = (text: string | undefined) => positiveInt(text, "node_id", MAX_NODE_ID - 1);
const seconds = (flags: Flags, fallback: number) => (flags.timeout === undefined ? fallback : positiveInt(flags.timeout, "--timeout", 86_400));
const count = (flags: Flags) => (flags.count === undefined ? 1 : positiveInt(flags.count, "--count", 1_000_000));

/** Runs `f` with a connection to the daemon of PILOT_HOME, closed afterwards. */
async function withPilot<T>(f: (pilot: Pilot) => Promise<T>): Promise<T> {
  const pilot = await Pilot.connect();
  try {
    return await f(pilot);
  } finally {
    pilot.close();
  }
}

const call = <K extends CallName>(cmd: K, ...args: ArgsParam<K>) => withPilot((pilot) => pilot.call(cmd, ...args));

async function daemonStart(flags: Flags): Promise<unknown> {
  const paths = homePaths();
  ensureHome(paths.dir);
  const daemonFlags = Object.fromEntries(Object.keys(DAEMON_FLAGS).flatMap((k) => (flags[k as keyof Flags] === undefined ? [] : [[k, flags[k as keyof Flags]]])));
  if (flags.foreground) {
    const daemon = await runDaemon(daemonFlags, (line) => process.stderr.write(`${line}\n`));
    return { ...daemon.info(), pid: process.pid, foreground: true };
  }
  try {
    const running = await call("info");
    throw new PilotError("already_running", `a daemon is already running as node ${running.node_id}`, "stop it first with pilotctl daemon stop");
  } catch (e) {
    if (!(e instanceof PilotError) || e.code !== "not_running") throw e;
  }
  // The flags go into config.json (mode 0600), which the daemon reads: never onto its command line,
  // where any local user could read an enrollment key in the process list. A bad flag fails here.
  configure(paths.config, daemonFlags);
  const log = openOwned(paths.log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, "the log");
  const child = spawn(process.execPath, [fileURLToPath(new URL("../../bin/pilot-daemon.js", import.meta.url))], {
    detached: true,
    stdio: ["ignore", log, log],
    env: process.env,
  });
  let exited: number | null = null;
  child.on("exit", (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited !== null) {
      const tail = readFileSync(paths.log, "utf8").trim().split("\n").slice(-3).join("\n");
      throw new PilotError("connection_failed", `the daemon exited during start-up: ${tail}`, `see ${paths.log}`);
    }
    try {
      const info = await call("info");
      return { pid: child.pid, node_id: info.node_id, address: info.address, hostname: info.hostname, socket: paths.socket, log_file: paths.log };
    } catch (e) {
      if (!(e instanceof PilotError) || e.code !== "not_running") throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new PilotError("timeout", "the daemon did not come up within 30 s", `see ${paths.log}`);
}

async function daemonStop(): Promise<unknown> {
  const paths = homePaths();
  const reply = await call("stop");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      await call("info");
    } catch {
      return { pid: reply.pid, stopped: true };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new PilotError("timeout", "the daemon did not stop within 10 s", `see ${paths.log}`);
}

async function daemonStatus(flags: Flags): Promise<unknown> {
  try {
    return { running: true, ...(await call("info")) };
  } catch (e) {
    if (e instanceof PilotError && e.code === "not_running") {
      if (flags.check) throw e;
      return { running: false, socket: homePaths().socket };
    }
    throw e;
  }
}

/** What a waiting command says once it is ready, for people: --json keeps stderr for errors. */
const readyLine = (flags: Flags) => (flags.json ? undefined : (line: string) => process.stderr.write(`${line}\n`));

/**
 * Prints datagrams arriving on a port until --count of them or --timeout seconds. Once the port is
 * bound it says so on stderr, so a script can wait for that line before anything is sent.
 */
async function listen(port: number, flags: Flags): Promise<unknown> {
  const [wanted, timeout] = [count(flags), seconds(flags, 30)];
  return withPilot(async (pilot) => {
    const messages: Record<string, unknown>[] = [];
    let timedOut = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeout * 1000);
      pilot
        .receiveDatagrams(port, (d) => {
          if (messages.length >= wanted) return;
          messages.push({ src_addr: d.from, node_id: d.nodeId, src_port: d.srcPort, data: d.data.toString("utf8"), bytes: d.data.length });
          if (messages.length >= wanted) {
            clearTimeout(timer);
            resolve();
          }
        })
        .then(() => readyLine(flags)?.(`listening for datagrams on port ${port}`))
        .catch((e: unknown) => {
          clearTimeout(timer);
          reject(e);
        });
    });
    return { port, messages, timeout: timedOut };
  });
}

async function run(argv: string[], flags: Flags): Promise<unknown> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "daemon": {
      const [sub, ...rest] = args;
      need(rest, 0, "daemon start|stop|status");
      if (sub === "start") return daemonStart(flags);
      if (sub === "stop") return daemonStop();
      if (sub === "status") return daemonStatus(flags);
      throw usage("usage: pilotctl daemon start|stop|status", "start takes --registry, --hostname, --public, --enroll, --stun, --listen, --foreground");
    }
    case "context":
      return { version: VERSION, commands: COMMAND_LIST, error_codes: ERROR_CODES, global_flags: { "--json": "print the {status, data} envelope" }, environment: { PILOT_HOME: "directory of identity, config, trust and the socket (default ~/.pilot)" } };
    case "info":
      need(args, 0, "info");
      return call("info");
    case "peers":
      need(args, 0, "peers");
      return call("peers");
    case "set-hostname":
      need(args, 1, "set-hostname <hostname>");
      return call("set-hostname", { hostname: args[0]! });
    case "clear-hostname":
      need(args, 0, "clear-hostname");
      return call("clear-hostname");
    case "set-public":
    case "set-private":
      need(args, 0, cmd);
      return call("set-visibility", { public: cmd === "set-public" });
    case "find":
      need(args, 1, "find <hostname>");
      return call("find", { hostname: args[0]! });
    case "handshake":
      need(args, 2, 'handshake <node_id|address|hostname> "justification"');
      return call("handshake", { target: args[0]!, justification: args[1]! });
    case "pending":
      need(args, 0, "pending");
      return call("pending");
    case "approve":
      need(args, 1, "approve <node_id>");
      return call("approve", { node_id: nodeId(args[0]) });
    case "reject":
      need(args, 1, 'reject <node_id> "reason"', 2);
      return call("reject", { node_id: nodeId(args[0]), reason: args[1] ?? "" });
    case "trust":
      need(args, 0, "trust");
      return call("trust");
    case "untrust":
      need(args, 1, "untrust <node_id>");
      return call("untrust", { node_id: nodeId(args[0]) });
    case "join-network":
      need(args, 1, "join-network <network_id> --token <token> | join-network <join URL>");
      return call("join-network", /^[0-9]+$/.test(args[0]!) ? { network: positiveInt(args[0], "network_id", 0xffff), token: flags.token } : { network: args[0]! });
    case "leave-network":
      need(args, 1, "leave-network <network_id>");
      return call("leave-network", { network_id: positiveInt(args[0], "network_id", 0xffff) });
    case "networks":
      need(args, 0, "networks");
      return call("networks");
    case "members":
      need(args, 1, "members <network_id>");
      return call("members", { network_id: positiveInt(args[0], "network_id", 0xffff) });
    case "invitations":
      need(args, 0, "invitations");
      return call("invitations");
    case "accept-invitation":
    case "decline-invitation":
      need(args, 1, `${cmd} <network_id>`);
      return call(cmd, { network_id: positiveInt(args[0], "network_id", 0xffff) });
    case "send-datagram": {
      need(args, 2, "send-datagram <node_id|address|hostname> <port> --data <text>");
      if (flags.data === undefined) throw usage("send-datagram needs --data <text>", 'e.g. pilotctl send-datagram agent-b 1001 --data "hello"');
      const [target, to, data] = [args[0]!, port(args[1]), flags.data];
      const sent = await withPilot((pilot) => pilot.sendDatagram(target, to, data));
      return { target, node_id: sent.nodeId, port: to, bytes: sent.bytes };
    }
    case "listen":
      need(args, 1, "listen <port> [--count N] [--timeout S]");
      return listen(port(args[0]), flags);
    case "connect": {
      need(args, 1, "connect <node_id|address|hostname> [port=1000] [--message TEXT] [--timeout S]", 2);
      const [target, to, timeout] = [args[0]!, args[1] === undefined ? 1000 : port(args[1]), seconds(flags, 30)];
      return exchange(target, to, flags.message === undefined ? await readStdin() : Buffer.from(flags.message), timeout);
    }
    case "send": {
      need(args, 2, "send <node_id|address|hostname> <port> --data <text> [--timeout S]");
      const [to, timeout] = [port(args[1]), seconds(flags, 30)];
      if (flags.data === undefined) throw usage("send needs --data <text>", 'e.g. pilotctl send agent-b 1000 --data "hello"');
      return exchange(args[0]!, to, Buffer.from(flags.data), timeout);
    }
    case "recv":
      need(args, 1, "recv <port> [--count N] [--timeout S]");
      return receive(port(args[0]), count(flags), seconds(flags, 30), readyLine(flags));
    case "bench": {
      need(args, 1, "bench <node_id|address|hostname> [size_mb=1] [--timeout S]", 2);
      const [size, timeout] = [args[1] === undefined ? 1 : positiveInt(args[1], "size_mb", MAX_BENCH_MB), seconds(flags, 120)];
      // Progress goes to stderr, and only for people: --json output stays one line.
      return bench(args[0]!, size, timeout, flags.json ? undefined : (line) => process.stderr.write(`${line}\n`));
    }
    case "connections": {
      need(args, 0, "connections");
      const connections = await withPilot((pilot) => pilot.connections());
      return { connections, total: connections.length };
    }
    case "ping":
      need(args, 1, "ping <node_id|address|hostname> [--count N]");
      return call("ping", { target: args[0]!, count: flags.count === undefined ? 4 : positiveInt(flags.count, "--count", 100) });
    default:
      throw usage(cmd ? `unknown command "${cmd}"` : "no command given", "run pilotctl context for the list of commands");
  }
}

function human(data: unknown): string {
  return typeof data === "object" && data !== null ? JSON.stringify(data, null, 2) : String(data);
}

/** Runs pilotctl with these arguments; returns the exit code. */
export async function pilotctl(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    return report(json, usage((e as Error).message, "run pilotctl context for every command and its flags"), 2);
  }
  try {
    const data = await run(parsed.positionals, parsed.values);
    process.stdout.write(json ? `${JSON.stringify({ status: "ok", data })}\n` : `${human(data)}\n`);
    return 0;
  } catch (e) {
    const err = e instanceof PilotError ? e : new PilotError("internal", e instanceof Error ? e.message : String(e), "run again with --json and report the output");
    return report(json, err, err instanceof UsageError ? 2 : 1);
  }
}

function report(json: boolean, e: PilotError, code: number): number {
  process.stderr.write(json ? `${JSON.stringify({ status: "error", code: e.code, message: e.message, hint: e.hint })}\n` : `error: ${e.message}\nhint:  ${e.hint}\n`);
  return code;
}
