/**
 * The daemon's life and its settings: init and config write ~/.pilot/config.json; daemon start,
 * stop and status run it. Settings given as flags to `daemon start` are kept in config.json
 * (mode 0600), never put on the daemon's command line, where any local user could read an
 * enrollment key in the process list.
 */
import { spawn } from "node:child_process";
import { constants, fstatSync, readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PilotError } from "../../errors.ts";
import { readStartFailure } from "../../start-failure.ts";
import { forTerminal } from "../terminal.ts";
import { batchingOptions, restartBatching } from "../../send-batching.ts";
import { Config, effectiveRegistry, loadConfig, withFlags, writeConfig, type DaemonFlags } from "../../store/config-file.ts";
import { checkHome, checkSocketDir, homePaths, openOwned, readPid } from "../../store/home.ts";
import { call } from "../daemon-call.ts";
import { usage, type Command, type Flags } from "../command.ts";

const SETTINGS = {
  registry: "the registry's URL (as its operator published it)",
  hostname: "a hostname for this node",
  public: "let anyone resolve and reach this node",
  private: "only trusted peers and co-members may (the default)",
  enroll: "an enrollment key: register as a node of that account",
  stun: "STUN server(s) for the public endpoint, two separated by a comma, or off (default stun.cloudflare.com:3478,stun.cloudflare.com:53)",
  listen: "the UDP address the data plane binds (default 0.0.0.0:0)",
} as const;

const daemonFlags = (flags: Flags): DaemonFlags => Object.fromEntries(Object.keys(SETTINGS).flatMap((k) => (flags[k as keyof Flags] === undefined ? [] : [[k, flags[k as keyof Flags]]])));

const notRunning = (e: unknown) => e instanceof PilotError && e.code === "not_running";

/** Whether this process is pilotctl's own bin (under any link to it), not a program calling pilotctl's code. */
function runsPilotctl(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(new URL("../../../bin/pilotctl.js", import.meta.url)));
  } catch {
    return false;
  }
}

async function daemonStart(flags: Flags): Promise<unknown> {
  const paths = homePaths();
  checkHome(paths.dir);
  checkSocketDir(paths);
  const settings = daemonFlags(flags);
  if (flags.foreground) {
    // The daemon's modules load only here: every other command is a client, and loading them all
    // cost each pilotctl run about half its start-up. Before they load, a pilotctl process restarts
    // itself in place to send in batches (send-batching.ts); a program running this command in its
    // own process is not restarted.
    if (runsPilotctl()) restartBatching();
    const { runDaemon } = await import("../../main.ts");
    const daemon = await runDaemon(settings, (line) => process.stderr.write(`${forTerminal(line)}\n`));
    return { ...daemon.info(), pid: process.pid, foreground: true };
  }
  try {
    const running = await call("info");
    throw new PilotError("already_running", `a daemon is already running as node ${running.node_id}`, "stop it first with pilotctl daemon stop");
  } catch (e) {
    if (!notRunning(e)) throw e;
  }
  // No registry at all, or a bad flag or PILOT_SEND_BATCHING, fails here and now, before anything
  // is written (the home is made only after), rather than in the daemon's log.
  const config = withFlags(paths.config, settings);
  effectiveRegistry(config, settings.registry);
  const nodeOptions = batchingOptions();
  writeConfig(paths, config);
  const log = openOwned(paths.log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, "the log");
  // Where this start's lines begin: a failure an earlier start logged is not this one's.
  const logStart = fstatSync(log).size;
  const child = spawn(process.execPath, [...nodeOptions, fileURLToPath(new URL("../../../bin/pilot-daemon.js", import.meta.url))], {
    detached: true,
    stdio: ["ignore", log, log],
    // The flag outranks PILOT_REGISTRY, in the daemon as here.
    env: settings.registry === undefined ? process.env : { ...process.env, PILOT_REGISTRY: settings.registry },
  });
  let exited: number | null = null;
  child.on("exit", (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited !== null) {
      const lines = readFileSync(paths.log).subarray(logStart).toString("utf8");
      const failure = readStartFailure(lines);
      // An error that is no PilotError (a bug, a socket refused) is `internal`: the log has the rest.
      if (failure) throw new PilotError(failure.code, `the daemon could not start: ${failure.message}`, failure.code === "internal" ? `see ${paths.log}` : failure.hint);
      const tail = lines.trim().split("\n").slice(-3).join("\n");
      throw new PilotError("connection_failed", `the daemon exited during start-up: ${tail}`, `see ${paths.log}`);
    }
    try {
      const info = await call("info");
      return { pid: child.pid, node_id: info.node_id, address: info.address, hostname: info.hostname, registry: info.registry, socket: paths.socket, log_file: paths.log };
    } catch (e) {
      if (!notRunning(e)) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new PilotError("timeout", "the daemon did not come up within 30 s", `see ${paths.log}`);
}

/** Asks the daemon to stop; one that has not stopped within 10 s is killed (`forced`). */
async function daemonStop(): Promise<unknown> {
  const { pid } = await call("stop").catch((e: unknown) => {
    // "Start one", the usual hint, is no answer to a stop.
    if (notRunning(e)) throw new PilotError("not_running", `no daemon runs for ${homePaths().dir}: there is nothing to stop`, "check that PILOT_HOME names the daemon's home; pilotctl daemon status shows whether one runs");
    throw e;
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      await call("info");
    } catch (e) {
      if (notRunning(e)) return { pid, forced: false };
      throw e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The PID came from the daemon itself just now, not from a file that may be stale.
  process.kill(pid, "SIGKILL");
  return { pid, forced: true };
}

/** Whether a process with this PID exists (one we may signal or not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function daemonStatus(flags: Flags): Promise<unknown> {
  const paths = homePaths();
  try {
    const info = await call("info");
    return {
      running: true,
      responsive: true,
      pid: readPid(paths.pid),
      pid_file: paths.pid,
      socket: paths.socket,
      node_id: info.node_id,
      address: info.address,
      hostname: info.hostname,
      uptime_secs: info.uptime_secs,
      peers: info.peers.length,
      connections: info.connections,
      registry: info.registry,
      registry_status: info.registry_status,
      suspension: info.suspension,
      endpoint: info.endpoint,
      networks: info.networks.length,
    };
  } catch (e) {
    if (!notRunning(e)) throw e;
    const pid = readPid(paths.pid);
    const running = pid !== null && alive(pid);
    if (flags.check) throw running ? new PilotError("not_running", `the daemon (pid ${pid}) does not answer on ${paths.socket}`, `see ${paths.log}; pilotctl daemon stop, then pilotctl daemon start`) : e;
    return { running, responsive: false, pid: running ? pid : null, pid_file: paths.pid, socket: paths.socket };
  }
}

/** config.json as pilotctl shows it: the registry null when unset, and an enrollment key, a secret, only as set. */
const shown = (config: Config) => ({ ...config, registry: config.registry ?? null, ...(config.enroll !== undefined && { enroll: "(set)" }) });

/** `config --set key=value`: one setting, checked as the daemon will read it; an empty value unsets it. */
function setOne(assignment: string): unknown {
  const at = assignment.indexOf("=");
  const keys = Object.keys(Config.shape);
  const key = assignment.slice(0, at) as keyof Config;
  if (at < 1 || !keys.includes(key)) throw usage(`--set takes key=value with a key of ${keys.join(", ")}`, "e.g. pilotctl config --set registry=https://registry.example.com");
  const text = assignment.slice(at + 1);
  if (key === "public" && text !== "true" && text !== "false") throw usage("public is true or false", "e.g. pilotctl config --set public=false");
  const paths = homePaths();
  checkHome(paths.dir);
  const { [key]: _old, ...rest } = loadConfig(paths.config);
  const value = key === "public" ? text === "true" : text === "" ? (key === "hostname" ? null : undefined) : text;
  const next = Config.safeParse(value === undefined ? rest : { ...rest, [key]: value });
  if (!next.success) throw usage(`${key}: ${next.error.issues[0]?.message}`, "run pilotctl config --help");
  writeConfig(paths, next.data);
  return { key, value: shown(next.data)[key] ?? null };
}

export const DAEMON_COMMANDS: Command[] = [
  {
    name: "init",
    group: "daemon",
    args: [],
    flags: SETTINGS,
    description: "Write this node's settings without starting the daemon. They go to ~/.pilot/config.json ($PILOT_HOME); the registry is required once.",
    returns: "config_path, registry, hostname, public, stun, listen, socket",
    example: "pilotctl init --registry https://registry.example.com --hostname agent-a",
    differs: "The registry is a URL, and has no default; there is no --beacon (the registry relays) and no --socket (PILOT_SOCKET sets it).",
    run: async ({ flags }) => {
      const paths = homePaths();
      checkHome(paths.dir);
      const config = withFlags(paths.config, daemonFlags(flags));
      if (config.registry === undefined) throw usage("init needs --registry", "e.g. pilotctl init --registry https://registry.example.com");
      writeConfig(paths, config);
      return { config_path: paths.config, registry: config.registry, hostname: config.hostname, public: config.public, stun: config.stun, listen: config.listen, socket: paths.socket };
    },
  },
  {
    name: "config",
    group: "daemon",
    args: [],
    flags: { set: "change one setting: registry, hostname, public, stun, listen or enroll (empty to unset); the daemon reads it at its next start" },
    description: "Show this node's settings and files, or change one setting. The settings are ~/.pilot/config.json ($PILOT_HOME).",
    returns: "registry, stun, listen, hostname, public, enroll ((set) when set), config_path, pid_file, log_file, socket, registry_in_use (with PILOT_REGISTRY applied); with --set: key, value",
    example: "pilotctl config --set registry=https://registry.example.com",
    run: async ({ flags }) => {
      if (flags.set !== undefined) return setOne(flags.set);
      const paths = homePaths();
      const config = loadConfig(paths.config);
      let registryInUse: string | null = null;
      try {
        registryInUse = effectiveRegistry(config, undefined);
      } catch (e) {
        if (!(e instanceof PilotError) || e.code !== "no_registry") throw e;
      }
      return { ...shown(config), config_path: paths.config, pid_file: paths.pid, log_file: paths.log, socket: paths.socket, registry_in_use: registryInUse };
    },
  },
  {
    name: "daemon start",
    group: "daemon",
    args: [],
    flags: { ...SETTINGS, foreground: "run in this process, logging to stderr, until Ctrl-C" },
    description: "Start the daemon in the background. Returns once the node is registered; flags are saved to config.json for the next start.",
    returns: "pid, node_id, address, hostname, registry, socket, log_file",
    example: "pilotctl daemon start --hostname agent-a",
    run: ({ flags }) => daemonStart(flags),
  },
  {
    name: "daemon stop",
    group: "daemon",
    args: [],
    description: "Stop the daemon. The node keeps its ID and trust; nothing is deregistered.",
    returns: "pid, forced (killed after 10 s without stopping)",
    example: "pilotctl daemon stop",
    run: () => daemonStop(),
  },
  {
    name: "daemon status",
    group: "daemon",
    args: [],
    flags: { check: "exit 1 (not_running) unless the daemon answers" },
    description: "Whether the daemon runs and answers, and its state.",
    returns: "running, responsive, pid, pid_file, socket, node_id, address, hostname, uptime_secs, peers, connections, registry, registry_status, suspension, endpoint, networks",
    example: "pilotctl daemon status --check",
    run: ({ flags }) => daemonStatus(flags),
  },
];
