/**
 * End-to-end fixtures: a real local registry, a local STUN responder, and real daemon processes
 * started and driven through `pilotctl --json`, each with its own PILOT_HOME.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withPilot } from "../../src/cli/daemon-call.ts";
import type { ArgsParam, CallName, Result } from "../../src/local-socket/contract.ts";
import { startStunResponder } from "../../src/net/stun-client.ts";
import { startLocalRegistry, type LocalRegistry, type RegistrySettings } from "../local-registry.ts";

export const PILOTCTL = fileURLToPath(new URL("../../bin/pilotctl.js", import.meta.url));

/** How tests run pilotctl unless told otherwise: this Node on the checkout's bin/pilotctl.js. */
export const CHECKOUT_PILOTCTL = [process.execPath, PILOTCTL];

export interface CtlResult {
  code: number;
  ok: boolean;
  data: Record<string, any>;
  error?: { code: string; message: string; hint: string };
}

export interface CtlOptions {
  timeoutMs?: number;
  stdin?: string;
  launcher?: string[];
  command?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs `pilotctl … --json` for a home; `stdin` is what the command reads on its standard input.
 * `launcher` runs it under another program (`ip netns exec <ns>`: a daemon it starts stays there);
 * `command` is the pilotctl it runs (an installed package's, say); `env` adds to its environment.
 */
export function pilotctl(home: string, args: string[], o: CtlOptions = {}): Promise<CtlResult> {
  const { timeoutMs = 30_000, stdin = "", launcher = [], command = CHECKOUT_PILOTCTL, env = {} } = o;
  return new Promise((resolve) => {
    const [file, ...argv] = [...launcher, ...command, ...args, "--json"];
    const child = execFile(file!, argv, { env: { ...process.env, PILOT_HOME: home, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const exit = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof exit === "number" ? exit : 1) : 0;
      if (code === 0) return resolve({ code, ok: true, data: JSON.parse(stdout).data });
      let error;
      try {
        error = JSON.parse(stderr.trim().split("\n").at(-1)!);
      } catch {
        error = { code: "unparsable", message: stderr, hint: "" };
      }
      resolve({ code, ok: false, data: {}, error });
    });
    // Most commands exit without reading stdin; a closed pipe is no failure of theirs.
    child.stdin?.on("error", () => undefined).end(stdin);
  });
}

/** A pilotctl command running in the background, as background() started it. */
export interface Background {
  /** Its first line on stderr, which says it is bound. */
  ready: Promise<string>;
  /** Its first line on stdout (one NDJSON record, for a command that streams them). */
  firstLine: Promise<string>;
  /** All it printed on stdout, as JSON, once it exits. */
  done(): Promise<unknown>;
  child: ChildProcess;
  exited: Promise<void>;
}

/** Starts a pilotctl command that waits (listen, recv, subscribe) as people run it, without --json. */
export function background(home: string, args: string[], command = CHECKOUT_PILOTCTL): Background {
  const [file, ...argv] = [...command, ...args];
  const child = spawn(file!, argv, { env: { ...process.env, PILOT_HOME: home } });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const ready = new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (stderr.includes("\n")) resolve(stderr.split("\n")[0]!);
    });
    void exited.then(() => reject(new Error(`exited before it was ready: ${stderr}`)));
  });
  const firstLine = new Promise<string>((resolve) =>
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      if (stdout.includes("\n")) resolve(stdout.split("\n")[0]!);
    }),
  );
  return { ready, firstLine, done: () => exited.then(() => JSON.parse(stdout) as unknown), child, exited };
}

export interface Daemon {
  name: string;
  home: string;
  nodeId: number;
  /** The daemon process's ID, as `daemon start` reported it (the bench reads its CPU time). */
  pid: number;
  ctl(...args: string[]): Promise<CtlResult>;
  /** Runs a command that must succeed, and returns its data. */
  run(...args: string[]): Promise<Record<string, any>>;
  /**
   * One local-socket command through the SDK, in this process: for a test that polls the daemon's
   * state, where a pilotctl process for every look (about half a second of CPU each) would cost
   * more than the test itself. What pilotctl itself prints is for `run` to check.
   */
  call<K extends CallName>(cmd: K, ...args: ArgsParam<K>): Promise<Result<K>>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Starts a command that waits, as `background` does. */
  background(...args: string[]): Background;
  /** The UDP endpoint the daemon's data plane listens on. */
  endpoint(): Promise<{ address: string; port: number }>;
  identitySeed(): Buffer;
}

export interface DaemonOptions {
  /** Names the daemon in errors and its PILOT_HOME (a new temporary directory). */
  name: string;
  registry: string;
  /** `host:port` of the STUN server, or "off". */
  stun: string;
  /** The data plane's UDP address. */
  listen: string;
  /** More `daemon start` flags. */
  flags?: string[];
  /** What `daemon start` runs under, e.g. `ip netns exec <ns>`; every other command runs here, over the socket. */
  launcher?: string[];
  /** The pilotctl every command runs (CHECKOUT_PILOTCTL unless given). */
  command?: string[];
}

/** Starts a daemon process through `pilotctl daemon start` and returns the handle the tests drive it with. */
export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const { name } = o;
  const home = mkdtempSync(join(tmpdir(), `pilot-${name}-`));
  const ctl = (args: string[], launcher?: string[]) => pilotctl(home, args, { launcher, command: o.command });
  const must = async (args: string[], launcher?: string[]) => {
    const r = await ctl(args, launcher);
    if (!r.ok) throw new Error(`${name}: pilotctl ${args.join(" ")} failed: ${JSON.stringify(r.error)}`);
    return r.data;
  };
  const daemon: Daemon = {
    name,
    home,
    nodeId: 0,
    pid: 0,
    ctl: (...args) => ctl(args),
    run: (...args) => must(args),
    call: (cmd, ...args) => withPilot((pilot) => pilot.call(cmd, ...args), home),
    background: (...args) => background(home, args, o.command),
    async start() {
      const data = await must(["daemon", "start", "--registry", o.registry, "--stun", o.stun, "--listen", o.listen, ...(o.flags ?? [])], o.launcher);
      daemon.nodeId = data["node_id"];
      daemon.pid = data["pid"];
    },
    async stop() {
      await ctl(["daemon", "stop"]);
    },
    async endpoint() {
      const info = await daemon.run("info");
      const [address, port] = String(info["lan_addrs"][0]).split(":");
      return { address: address!, port: Number(port) };
    },
    identitySeed: () => Buffer.from(JSON.parse(readFileSync(join(home, "identity.json"), "utf8")).private_key, "base64"),
  };
  await daemon.start();
  return daemon;
}

/** Runs `f` with these variables in the environment that daemon processes started meanwhile inherit. */
export async function withEnv<T>(env: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

export class Cluster {
  registry!: LocalRegistry;
  stunPort = 0;
  readonly daemons: Daemon[] = [];
  #stun?: Awaited<ReturnType<typeof startStunResponder>>;
  #registryStopped = false;

  async start(settings?: RegistrySettings): Promise<void> {
    this.registry = await startLocalRegistry(settings);
    this.#stun = await startStunResponder();
    this.stunPort = this.#stun.port;
  }

  async daemon(name: string, ...flags: string[]): Promise<Daemon> {
    const daemon = await startDaemon({ name, registry: this.registry.url, stun: `127.0.0.1:${this.stunPort}`, listen: "127.0.0.1:0", flags });
    this.daemons.push(daemon);
    return daemon;
  }

  /** Stops the registry, as an outage would; the daemons carry on without it. */
  async stopRegistry(): Promise<void> {
    this.#registryStopped = true;
    await this.registry.close();
  }

  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop()));
    for (const d of this.daemons) rmSync(d.home, { recursive: true, force: true });
    await this.#stun?.close();
    if (!this.#registryStopped) await this.registry?.close();
  }
}
