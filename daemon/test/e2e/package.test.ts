/**
 * The published package as a user gets it: `npm run build:package` builds and packs it, `npm install
 * --global` puts the tarball into an empty prefix, and the installed pilotctl, once on the machine's
 * Node 20 and once on the project's Node 22, starts two daemons against a local registry, walks
 * them through the README (trust both ways, a datagram, a stream) and stops them.
 *
 * Node 20 must be on PATH besides the project's own Node 22 (CI has it system-wide); without it the
 * test fails, saying so. The install takes the tarballs of zod and undici from npm's cache, which
 * `npm ci` filled; it fetches what is not there, such as their full metadata, which `npm install`
 * reads and `npm ci` does not keep.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalRegistry, type LocalRegistry } from "../local-registry.ts";
import { SLOW_TEST_MS, waitFor } from "../wait.ts";
import { startDaemon, type Daemon } from "./cluster.ts";
import { readmeWalk } from "./readme-walk.ts";

/** Runs a command to its end; a failure says what it printed, which is where the reason is. */
async function run(file: string, args: string[], cwd?: string): Promise<string> {
  try {
    return (await promisify(execFile)(file, args, { cwd })).stdout;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(" ")} failed:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, "daemon/package.json"), "utf8")) as { version: string };

// Without the tests' NODE_OPTIONS (vitest.config.ts), whose --import an older Node on PATH would refuse.
const nodeVersion = (node: string) => execFileSync(node, ["--version"], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } }).trim();

/** The oldest Node the package says it runs on, from the installed package.json's `engines` (">=20.18.1"). */
function oldestNode(installed: string): number[] {
  const { engines } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { engines: { node: string } };
  return /^>=([0-9.]+)$/.exec(engines.node)![1]!.split(".").map(Number);
}

/** Whether version `v` is `min` or later, both as [major, minor, patch]. */
function atLeast(v: number[], min: number[]): boolean {
  for (const [i, m] of min.entries()) if ((v[i] ?? 0) !== m) return (v[i] ?? 0) > m;
  return true;
}

/** Node 20 on this machine: a `node` on PATH that is not the project's own. */
function findNode20(minimum: number[]): string {
  const project = realpathSync(process.execPath);
  const found: string[] = [];
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    const node = join(dir, "node");
    if (!dir || !existsSync(node) || realpathSync(node) === project) continue;
    const v = nodeVersion(node);
    found.push(`${node} (${v})`);
    if (v.startsWith("v20.") && atLeast(v.slice(1).split(".").map(Number), minimum)) return node;
  }
  throw new Error(
    `this test runs the installed package on Node 20 (${minimum.join(".")} or newer), and finds none on PATH besides the project's own Node ` +
      `(${found.length ? `found: ${found.join(", ")}` : "found no other"}); install it system-wide and run again`,
  );
}

let work: string;
let installed: string;
let pilotctlBin: string;
let sdkProgram: string;
let tarball: string;
let registry: LocalRegistry;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "pilot-package-"));
  await run("npm", ["run", "build:package", "--", work], ROOT);
  tarball = join(work, `pilot-daemon-${version}.tgz`);
  const prefix = join(work, "prefix");
  await run("npm", ["install", "--global", "--prefix", prefix, "--prefer-offline", tarball], work);
  installed = join(prefix, "lib", "node_modules", "pilot-daemon");
  pilotctlBin = join(prefix, "bin", "pilotctl");
  // Beside the prefix's node_modules, where Node finds the package by its name.
  sdkProgram = join(prefix, "lib", "sdk-info.mjs");
  writeFileSync(
    sdkProgram,
    'import { Pilot, tuneGc } from "pilot-daemon";\n' +
      // As docs/daemon.md advises a program that moves bulk data: the export is the packed package's too.
      "tuneGc();\n" +
      "const pilot = await Pilot.connect(process.argv[2]);\n" +
      'process.stdout.write(JSON.stringify(await pilot.call("info")));\n' +
      "pilot.close();\n",
  );
  registry = await startLocalRegistry();
}, 180_000);

afterAll(async () => {
  await registry?.close();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe("the package", () => {
  it("is compiled JavaScript with declarations, small, and carries the protocol package", () => {
    // About 200 kB today; zod bundled by mistake would add 1.1 MB.
    expect(statSync(tarball).size).toBeLessThan(400_000);
    const files = readdirSync(join(installed, "src"), { recursive: true, encoding: "utf8" });
    expect(files).toContain("index.js");
    expect(files).toContain("index.d.ts");
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(existsSync(join(installed, "node_modules", "@pilot", "protocol", "src", "index.js"))).toBe(true);
    expect(existsSync(join(installed, "node_modules", "zod", "package.json"))).toBe(true);
  });
});

/** Runs the installed pilotctl as a shell does, its `#!/usr/bin/env node` finding `node` first on PATH. */
async function walkOn(node: string, tag: string, batches: boolean): Promise<void> {
  const env = ["env", `PATH=${dirname(node)}${delimiter}${process.env["PATH"]}`];
  expect((await run(env[0]!, [...env.slice(1), "node", "--version"])).trim()).toBe(nodeVersion(node));
  const command = [...env, pilotctlBin];
  const names = [`pkg-${tag}-a-${process.pid}`, `pkg-${tag}-b-${process.pid}`] as const;
  const daemons: Daemon[] = [];
  try {
    for (const name of names) {
      daemons.push(await startDaemon({ name, registry: registry.url, stun: "off", listen: "127.0.0.1:0", flags: ["--hostname", name], command }));
    }
    const [a, b] = daemons as [Daemon, Daemon];
    // The relay connection is a WebSocket, which Node 20 has only from the undici package.
    for (const d of daemons) await waitFor(async () => (await d.run("info"))["relay_status"] === "connected", `${d.name}'s relay connection`);
    await readmeWalk(a, names[0], b, names[1]);
    // This session's commands, from the installed package: why (the trust the walk made, the stream's
    // port open) and set-tags (through the registry).
    expect(await a.run("why", names[1], "1000")).toMatchObject({ reachable: true, trust: { state: "trusted", until: null } });
    expect(await a.run("set-tags", "pkg-test")).toEqual({ tags: ["pkg-test"] });
    // A program of the user's imports the SDK by the package's name.
    const info = await run(node, [sdkProgram, a.home]);
    // Node 20 has neither libuv 1.50 nor process.execve: its daemons send one by one, and say why.
    expect(JSON.parse(info)).toMatchObject({ node_id: a.nodeId, send_batching: batches });
    expect(readFileSync(join(a.home, "pilot.log"), "utf8").includes("sending datagrams one by one: this Node's libuv is")).toBe(!batches);
    while (daemons.length > 0) {
      const d = daemons[0]!;
      expect(await d.run("daemon", "stop")).toMatchObject({ pid: d.pid, forced: false });
      daemons.shift();
      rmSync(d.home, { recursive: true, force: true });
    }
  } finally {
    for (const d of daemons) {
      await d.stop();
      rmSync(d.home, { recursive: true, force: true });
    }
  }
}

describe("the installed pilotctl", () => {
  it("runs two daemons that trust each other and carry a datagram and a stream, and the SDK talks to them, on Node 20", () => walkOn(findNode20(oldestNode(installed)), "node20", false), SLOW_TEST_MS);

  it("does the same on the project's Node 22", () => {
    expect(nodeVersion(process.execPath)).toMatch(/^v22\./);
    return walkOn(process.execPath, "node22", true);
  }, SLOW_TEST_MS);

  it("on Node 20, the installed pilot-daemon given Node's batching option by hand refuses to start (libuv 1.46 fails a whole batch for one refused datagram, and it cannot restart without the option), making nothing", () => {
    const node20 = findNode20(oldestNode(installed));
    const home = mkdtempSync(join(tmpdir(), "pilot-package-home-"));
    try {
      const r = spawnSync(node20, ["--test-udp-no-try-send", join(installed, "bin", "pilot-daemon.js"), "--registry", registry.url, "--stun", "off", "--listen", "127.0.0.1:0"], {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, NODE_OPTIONS: "", PILOT_HOME: home },
      });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain("invalid_argument");
      expect(r.stderr).toContain("this process was started with --test-udp-no-try-send, but this Node's libuv is");
      expect(r.stderr).toContain("start it without --test-udp-no-try-send");
      expect(readdirSync(home)).toEqual([]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("from the checkout, on Node 20, pilotctl and pilot-daemon say which Node they need and how to put it first, not a stack trace", () => {
    const node20 = findNode20(oldestNode(installed));
    for (const bin of ["pilotctl.js", "pilot-daemon.js"]) {
      const r = spawnSync(node20, [join(ROOT, "daemon", "bin", bin), "version"], { encoding: "utf8" });
      expect(r.status, bin).toBe(1);
      expect(r.stderr, bin).toContain(`needs Node 22.18 or newer, and this is Node ${nodeVersion(node20).slice(1)}`);
      expect(r.stderr, bin).toContain(`export PATH="${ROOT}node_modules/.bin:$PATH"`);
      expect(r.stderr, bin).not.toMatch(/^\s+at /m);
    }
  });
});
