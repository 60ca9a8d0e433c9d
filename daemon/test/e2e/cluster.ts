/**
 * End-to-end fixtures: a real local registry, a local STUN responder, and real daemon processes
 * started and driven through `pilotctl --json`, each with its own PILOT_HOME.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startStunResponder } from "../../src/net/stun-client.ts";
import { startLocalRegistry, type LocalRegistry, type RegistrySettings } from "../local-registry.ts";

export const PILOTCTL = fileURLToPath(new URL("../../bin/pilotctl.js", import.meta.url));

export interface CtlResult {
  code: number;
  ok: boolean;
  data: Record<string, any>;
  error?: { code: string; message: string; hint: string };
}

/** Runs `pilotctl … --json` for a home; `stdin` is what the command reads on its standard input. */
export function pilotctl(home: string, args: string[], timeoutMs = 30_000, stdin = ""): Promise<CtlResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [PILOTCTL, ...args, "--json"], { env: { ...process.env, PILOT_HOME: home }, timeout: timeoutMs }, (err, stdout, stderr) => {
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

export interface Daemon {
  name: string;
  home: string;
  nodeId: number;
  ctl(...args: string[]): Promise<CtlResult>;
  /** Runs a command that must succeed, and returns its data. */
  run(...args: string[]): Promise<Record<string, any>>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The UDP endpoint the daemon's data plane listens on. */
  endpoint(): Promise<{ address: string; port: number }>;
  identitySeed(): Buffer;
}

export class Cluster {
  registry!: LocalRegistry;
  stunPort = 0;
  readonly daemons: Daemon[] = [];
  #stun?: Awaited<ReturnType<typeof startStunResponder>>;

  async start(settings?: RegistrySettings): Promise<void> {
    this.registry = await startLocalRegistry(settings);
    this.#stun = await startStunResponder();
    this.stunPort = this.#stun.port;
  }

  async daemon(name: string, ...flags: string[]): Promise<Daemon> {
    const home = mkdtempSync(join(tmpdir(), `pilot-${name}-`));
    const cluster = this;
    const daemon: Daemon = {
      name,
      home,
      nodeId: 0,
      ctl: (...args) => pilotctl(home, args),
      async run(...args) {
        const r = await pilotctl(home, args);
        if (!r.ok) throw new Error(`${name}: pilotctl ${args.join(" ")} failed: ${JSON.stringify(r.error)}`);
        return r.data;
      },
      async start() {
        const data = await daemon.run(
          "daemon", "start", "--registry", cluster.registry.url, "--stun", `127.0.0.1:${cluster.stunPort}`, "--listen", "127.0.0.1:0", ...flags,
        );
        daemon.nodeId = data["node_id"];
      },
      async stop() {
        await pilotctl(home, ["daemon", "stop"]);
      },
      async endpoint() {
        const info = await daemon.run("info");
        const [address, port] = String(info["lan_addrs"][0]).split(":");
        return { address: address!, port: Number(port) };
      },
      identitySeed: () => Buffer.from(JSON.parse(readFileSync(join(home, "identity.json"), "utf8")).private_key, "base64"),
    };
    await daemon.start();
    this.daemons.push(daemon);
    return daemon;
  }

  async stop(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop()));
    for (const d of this.daemons) rmSync(d.home, { recursive: true, force: true });
    await this.#stun?.close();
    await this.registry?.close();
  }
}
