/**
 * The daemon process (`pilot-daemon`, or `pilotctl daemon start`). Settings come from
 * $PILOT_HOME/config.json, updated by any flags given (the registry may also come from
 * PILOT_REGISTRY, effectiveRegistry says in which order); logs go to stderr.
 */
import { unlinkSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { PilotError } from "./errors.ts";
import { startFailureLine } from "./start-failure.ts";
import { tuneGc } from "./gc-tuning.ts";
import { whyOneByOne } from "./send-batching.ts";
import { checkNoDaemon, startIpcServer } from "./ipc/server.ts";
import { effectiveRegistry, withFlags, writeConfig, type DaemonFlags } from "./store/config-file.ts";
import { checkHome, checkSocketDir, homePaths } from "./store/home.ts";
import { startingIdentity } from "./agent/key-rotation.ts";
import { PilotDaemon } from "./agent/pilot-daemon.ts";
import type { PathImpairment } from "./dataplane/tunnel/tunnels.ts";

export const DAEMON_FLAGS = {
  registry: { type: "string" },
  hostname: { type: "string" },
  public: { type: "boolean" },
  private: { type: "boolean" },
  enroll: { type: "string" },
  stun: { type: "string" },
  listen: { type: "string" },
} as const;

type Environment = Readonly<Record<string, string | undefined>>;

/** A test hook's value from the environment, or undefined when it is unset; a bad one stops the daemon, saying what is wrong. */
function testHook(env: Environment, name: string, syntax: RegExp, [min, max]: [number, number], what: string, example: string): number | undefined {
  const text = env[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!syntax.test(text) || !(value >= min && value <= max)) {
    throw new PilotError("invalid_argument", `${name} must be ${what}, not ${JSON.stringify(text)}`, `unset it, or give e.g. ${example}`);
  }
  return value;
}

/**
 * The daemon's test hooks, from its environment. For a bad path, each the share (0 to 0.5) of the
 * encrypted frames this daemon sends that it throws away (PILOT_TEST_DROP_RATE), holds back behind
 * the next one (PILOT_TEST_REORDER_RATE) or sends twice (PILOT_TEST_DUPLICATE_RATE), to exercise
 * recovery; and PILOT_TEST_DELAY_MS (0 to 1000), how long it holds every one before sending it, for
 * a long round trip where the kernel offers no way to make one. And how long path MTU discovery
 * rests after a search before looking for more (PILOT_TEST_MTU_RAISE_MS, 100 ms to 600 s; RFC
 * 8899's 600 s without it), so a test can watch a path whose MTU grew be found again.
 */
export function testHooks(env: Environment): { impair: PathImpairment | undefined; mtuRaiseMs: number | undefined } {
  const rate = (name: string) => testHook(env, name, /^[0-9.]+$/, [0, 0.5], "a number from 0 to 0.5", "0.05") ?? 0;
  const path = {
    drop: rate("PILOT_TEST_DROP_RATE"),
    reorder: rate("PILOT_TEST_REORDER_RATE"),
    duplicate: rate("PILOT_TEST_DUPLICATE_RATE"),
    delayMs: testHook(env, "PILOT_TEST_DELAY_MS", /^[0-9]+$/, [0, 1000], "a whole number of milliseconds from 0 to 1000", "25") ?? 0,
  };
  return {
    impair: path.drop || path.reorder || path.duplicate || path.delayMs ? path : undefined,
    mtuRaiseMs: testHook(env, "PILOT_TEST_MTU_RAISE_MS", /^[0-9]+$/, [100, 600_000], "a whole number of milliseconds from 100 to 600000", "2000"),
  };
}

/** Runs a daemon in this process until it is told to stop. */
export async function runDaemon(flags: DaemonFlags, log: (line: string) => void): Promise<PilotDaemon> {
  // The process is the daemon's from here on (`pilot-daemon`, or `pilotctl daemon start --foreground`).
  // A bad setting stops the start here, before anything is opened.
  const sendingOneByOne = whyOneByOne(process.env);
  tuneGc();
  // First: a bad hook stops the daemon before it touches its identity, the registry or the network.
  const hooks = testHooks(process.env);
  if (sendingOneByOne !== null) log(`sending datagrams one by one: ${sendingOneByOne}`);
  const paths = homePaths();
  checkHome(paths.dir);
  checkSocketDir(paths);
  await checkNoDaemon(paths.socket);
  // The home is made, and the settings saved, only once they are all checked.
  const config = withFlags(paths.config, flags);
  const registry = effectiveRegistry(config, flags.registry);
  writeConfig(paths, config);
  const identity = await startingIdentity(paths, registry, log);
  const daemon = new PilotDaemon({ identity, config, registry, paths, log, ...hooks });
  await daemon.start();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void daemon
      .stop()
      .catch((e: unknown) => log(`stopping: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`))
      .finally(() => {
        server.close();
        for (const f of [paths.socket, paths.pid]) {
          try {
            unlinkSync(f);
          } catch {
            // Already gone.
          }
        }
        process.exit(0);
      });
  };
  const server = await startIpcServer(daemon, paths.socket, stop);
  writeFileSync(paths.pid, `${process.pid}\n`, { mode: 0o600 });
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // A bug in one request must not take the node off the network: log it and carry on.
  process.on("unhandledRejection", (e) => log(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  return daemon;
}

/** The `pilot-daemon` command. */
export function daemonMain(argv: string[]): void {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  let flags: DaemonFlags;
  try {
    flags = parseArgs({ args: argv, options: DAEMON_FLAGS, strict: true }).values;
  } catch (e) {
    log(`bad arguments: ${(e as Error).message}`);
    process.exit(2);
  }
  runDaemon(flags, log).catch((e: unknown) => {
    const err = e instanceof PilotError ? e : new PilotError("internal", e instanceof Error ? e.message : String(e), "see the log");
    log(startFailureLine(err));
    process.exit(1);
  });
}
