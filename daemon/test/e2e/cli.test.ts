/**
 * pilotctl as people and scripts meet it: help, the reference Pilot's command names and shapes,
 * where the registry and the socket come from (flags, PILOT_REGISTRY, PILOT_SOCKET, init, config),
 * and what it refuses.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, PILOTCTL, pilotctl, type Daemon } from "./cluster.ts";

const SLOW_TEST_MS = 120_000;
const cluster = new Cluster();
const homes: string[] = [];
let a: Daemon;
let b: Daemon;

beforeAll(async () => {
  await cluster.start();
  a = await cluster.daemon("cli-a", "--hostname", `cli-a-${process.pid}`);
  b = await cluster.daemon("cli-b", "--hostname", `cli-b-${process.pid}`);
  await a.run("handshake", `cli-b-${process.pid}`, "want to collaborate");
  await b.run("handshake", `cli-a-${process.pid}`, "want to collaborate");
}, 90_000);
afterAll(async () => {
  await cluster.stop();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
}, 60_000);

const freshHome = () => {
  const home = join(mkdtempSync(join(tmpdir(), "pilot-cli-")), "home");
  homes.push(home);
  return home;
};

/** pilotctl as a person runs it: no --json. */
function human(home: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [PILOTCTL, ...args], { env: { ...process.env, PILOT_HOME: home, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** The top-level field names a `returns` text lists: "a, b[{c, d}], e{f,g}" → a, b, e. */
function topLevelNames(returns: string): string[] {
  const names: string[] = [];
  let depth = 0;
  let part = "";
  for (const c of `${returns},`) {
    if ("[{(".includes(c)) depth++;
    if ("]})".includes(c)) depth--;
    if (c === "," && depth === 0) {
      names.push(/^\s*([a-z_]+)/.exec(part)![1]!);
      part = "";
    } else part += c;
  }
  return names;
}

describe("help", () => {
  it("lists every command for `pilotctl`, `pilotctl help` and `pilotctl --help`, and shows one in full", async () => {
    const home = freshHome();
    const [bare, help, flag] = await Promise.all([human(home, []), human(home, ["help"]), human(home, ["--help"])]);
    for (const r of [bare, help, flag]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: pilotctl <command>/m);
      for (const name of ["daemon start", "network join", "send-datagram", "listen", "context"]) expect(r.stdout).toContain(`  ${name} `);
      expect(r.stdout).toMatch(/Exit codes: 0 .* 1 .* 2 /);
    }
    const one = await human(home, ["send", "--help"]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^Usage: pilotctl send <node_id\|address\|hostname> <port> \[--data TEXT\] \[--timeout SECONDS\]$/m);
    expect(one.stdout).toMatch(/^Example:\n {2}pilotctl send agent-b 1000 --data "hello"$/m);
    expect(one.stdout).toMatch(/^Exit codes:/m);
    expect((await human(home, ["help", "send"])).stdout).toBe(one.stdout);
    expect((await human(home, ["network", "join", "--help"])).stdout).toMatch(/Also: pilotctl join-network/);
    // A family's help lists its commands; a two-word command's help is the same either way.
    for (const args of [["daemon", "--help"], ["help", "daemon"]]) {
      const family = await human(home, args);
      expect(family.code, args.join(" ")).toBe(0);
      expect(family.stdout.match(/^pilotctl daemon (start|stop|status)/gm), args.join(" ")).toHaveLength(3);
    }
    expect((await human(home, ["help", "daemon", "start"])).stdout).toBe((await human(home, ["daemon", "start", "--help"])).stdout);
    // Help needs no daemon, and no --help leaks into a command that would run.
    expect(existsSync(join(home, "config.json"))).toBe(false);
  }, SLOW_TEST_MS);

  it("answers a wrong command line with exit code 2 and a hint naming the pilotctl command to run", async () => {
    for (const args of [["frobnicate"], ["help", "frobnicate"], ["network"], ["network", "frob"], ["daemon"], ["info", "--data", "x"], ["trust", "extra"], ["listen", "1001", "--count", "0"]]) {
      const r = await a.ctl(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.error, args.join(" ")).toMatchObject({ code: "invalid_argument", hint: expect.stringMatching(/pilotctl /) });
      expect(r.error!.hint, args.join(" ")).not.toMatch(/\/v1\//);
    }
  }, SLOW_TEST_MS);

  it("names the flag or command a typo was near, the command a flag like --version stands for, and else the command's help", async () => {
    const cases: [string[], string, string][] = [
      [["send", "x", "1000", "--dat", "hi"], "unknown flag --dat", "did you mean --data? pilotctl send --help shows the flags"],
      [["ping", "x", "--cuont", "2"], "unknown flag --cuont", "did you mean --count? pilotctl ping --help shows the flags"],
      [["--version"], "unknown flag --version", "version is a command: pilotctl version"],
      [["pnig", "x"], 'unknown command "pnig"', "did you mean pilotctl ping? pilotctl help lists the commands"],
      [["info", "--zzzz"], "unknown flag --zzzz", "run pilotctl info --help for the flags"],
      [["frobnicate"], 'unknown command "frobnicate"', "run pilotctl help for the commands"],
    ];
    for (const [args, message, hint] of cases) {
      const r = await a.ctl(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.error, args.join(" ")).toEqual({ status: "error", code: "invalid_argument", message, hint });
    }
  }, SLOW_TEST_MS);
});

describe("the reference's names and shapes", () => {
  it("context keys commands by name, with usage, flags, returns and an example, in the reference's envelope", async () => {
    const context = await a.run("context");
    expect(Object.keys(context)).toEqual(expect.arrayContaining(["version", "commands", "error_codes", "global_flags", "environment", "config_file"]));
    expect(context["environment"]).toMatchObject({ PILOT_REGISTRY: expect.any(String), PILOT_SOCKET: expect.any(String), PILOT_HOME: expect.any(String) });
    for (const name of ["init", "config", "daemon stop", "peers", "network list", "network members", "network invites", "network accept", "network reject", "network leave", "network join", "listen"]) {
      expect(context["commands"][name], name).toMatchObject({ usage: expect.stringMatching(new RegExp(`^pilotctl ${name}`)), description: expect.any(String), returns: expect.any(String), example: expect.stringMatching(/^pilotctl /) });
    }
    expect(context["commands"]["network list"].aliases).toEqual(["networks"]);
    expect(context["commands"]["send-datagram"].differs_from_reference).toEqual(expect.any(String));
    expect((await a.run("version"))["version"]).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+/);
  }, SLOW_TEST_MS);

  it("answers with exactly the fields each command's `returns` lists", async () => {
    const context = await a.run("context");
    const runs: [string, string[]][] = [
      ["info", ["info"]],
      ["peers", ["peers"]],
      ["trust", ["trust"]],
      ["pending", ["pending"]],
      ["network list", ["network", "list"]],
      ["network invites", ["network", "invites"]],
      ["find", ["find", `cli-b-${process.pid}`]],
      ["lookup", ["lookup", String(b.nodeId)]],
      ["traceroute", ["traceroute", String(b.nodeId), "--count", "2"]],
      ["ping", ["ping", String(b.nodeId), "--count", "1"]],
      ["why", ["why", String(b.nodeId), "7"]],
      ["send-datagram", ["send-datagram", String(b.nodeId), "4000", "--data", "x"]],
      ["connections", ["connections"]],
      ["daemon status", ["daemon", "status"]],
      ["version", ["version"]],
      ["init", ["init"]],
      ["send-message", ["send-message", String(b.nodeId), "--data", "hi", "--type", "text"]],
      ["publish", ["publish", String(b.nodeId), "news", "--data", "hi"]],
      ["inbox", ["inbox"]],
      ["received", ["received"]],
      ["set-tags", ["set-tags", "frontend", "web"]],
      ["clear-tags", ["clear-tags"]],
    ];
    for (const [name, args] of runs) {
      expect(Object.keys(await a.run(...args)).sort(), name).toEqual(topLevelNames(context["commands"][name].returns).sort());
    }
    expect((await a.run("traceroute", String(b.nodeId)))["rtt_samples"]).toEqual([1, 2, 3].map(() => ({ rtt_ms: expect.any(Number), bytes: 64 })));
    expect((await b.run("inbox"))["messages"]).toContainEqual(expect.objectContaining({ type: "TEXT", from: expect.stringMatching(/^0:/), data: "hi", bytes: 2 }));
    expect(await a.run("set-tags", "web", "api")).toEqual({ tags: ["api", "web"] });
    expect(await a.run("clear-tags")).toEqual({ tags: [] });
    // Tags the registry would refuse are refused by the daemon (exit 1), a missing one by the command line (exit 2).
    for (const tags of [["Web"], ["x-"], ["a", "a"], Array.from({ length: 17 }, (_, i) => `t${i}`)]) {
      expect(await a.ctl("set-tags", ...tags), tags.join(" ")).toMatchObject({ code: 1, error: { code: "invalid_argument" } });
    }
    expect(await a.ctl("set-tags")).toMatchObject({ code: 2, error: { code: "invalid_argument", hint: "run pilotctl set-tags --help" } });
    expect(await a.ctl("clear-tags", "x")).toMatchObject({ code: 2, error: { code: "invalid_argument" } });
    expect(context["commands"]["set-tags"].usage).toBe("pilotctl set-tags <tag>...");
    const badType = await a.ctl("send-message", String(b.nodeId), "--data", "hi", "--type", "xml");
    expect(badType).toMatchObject({ code: 2, error: { code: "invalid_argument", hint: "run pilotctl send-message --help" } });
  }, SLOW_TEST_MS);

  it("keeps today's flat network names as aliases of `network …`", async () => {
    expect(await a.run("networks")).toEqual(await a.run("network", "list"));
    expect(await a.run("invitations")).toEqual(await a.run("network", "invites"));
    const [flat, grouped] = [await a.ctl("members", "9"), await a.ctl("network", "members", "9")];
    expect(flat.error).toEqual(grouped.error);
    expect(flat.error!.code).toBe("network_not_found");
  }, SLOW_TEST_MS);

  it("peers answers with a total, and --search filters", async () => {
    await a.run("ping", String(b.nodeId), "--count", "1");
    const all = await a.run("peers");
    expect(all["total"]).toBe(all["peers"].length);
    expect(all["peers"].map((p: { node_id: number }) => p.node_id)).toContain(b.nodeId);
    expect(await a.run("peers", "--search", "no-such-peer")).toEqual({ peers: [], total: 0 });
  }, SLOW_TEST_MS);

  it("daemon status and stop answer with the reference's fields; --check fails once it is down", async () => {
    const c = await cluster.daemon("cli-status");
    // A second start, even in the foreground, touches nothing of the running daemon's: not its
    // config, nor a key rotation it has under way.
    writeFileSync(join(c.home, "identity.next.json"), "in flight", { mode: 0o600 });
    const config = readFileSync(join(c.home, "config.json"), "utf8");
    const again = await c.ctl("daemon", "start", "--foreground", "--hostname", "someone-else");
    expect(again.error).toMatchObject({ code: "already_running" });
    expect(readFileSync(join(c.home, "identity.next.json"), "utf8")).toBe("in flight");
    expect(readFileSync(join(c.home, "config.json"), "utf8")).toBe(config);
    rmSync(join(c.home, "identity.next.json"));
    const status = await c.run("daemon", "status", "--check");
    expect(status).toMatchObject({ running: true, responsive: true, pid: c.pid, pid_file: join(c.home, "pilot.pid"), socket: join(c.home, "pilot.sock"), node_id: c.nodeId, peers: 0, connections: 0 });
    expect(await c.run("daemon", "stop")).toEqual({ pid: c.pid, forced: false });
    expect(await c.run("daemon", "status")).toEqual({ running: false, responsive: false, pid: null, pid_file: join(c.home, "pilot.pid"), socket: join(c.home, "pilot.sock") });
    const check = await c.ctl("daemon", "status", "--check");
    expect(check.code).toBe(1);
    expect(check.error).toMatchObject({ code: "not_running", hint: expect.stringMatching(/pilotctl daemon start/) });
    // Stopping it again: nothing to stop, and the hint is not to start one.
    const stopAgain = await c.ctl("daemon", "stop");
    expect(stopAgain.code).toBe(1);
    expect(stopAgain.error).toMatchObject({ code: "not_running", message: `no daemon runs for ${c.home}: there is nothing to stop`, hint: expect.stringContaining("pilotctl daemon status") });
  }, SLOW_TEST_MS);
});

describe("where the registry comes from", () => {
  it("without --registry, PILOT_REGISTRY or a saved one, daemon start says how to set it, and writes nothing", async () => {
    const home = freshHome();
    const r = await pilotctl(home, ["daemon", "start", "--stun", "off"]);
    expect(r.code).toBe(1);
    expect(r.error).toMatchObject({ code: "no_registry", hint: expect.stringMatching(/pilotctl init --registry/) });
    expect(existsSync(join(home, "config.json"))).toBe(false);
    expect(existsSync(join(home, "identity.json"))).toBe(false);
  }, SLOW_TEST_MS);

  it("a hostname another node holds stops the start, with a hint whose command starts it under another", async () => {
    const taken = `cli-taken-${process.pid}`;
    await a.run("set-hostname", taken);
    const home = freshHome();
    const flags = ["--registry", cluster.registry.url, "--stun", "off", "--listen", "127.0.0.1:0"];
    const refused = await pilotctl(home, ["daemon", "start", ...flags, "--hostname", taken]);
    expect(refused.code).toBe(1);
    expect(refused.error).toMatchObject({ code: "hostname_taken", hint: "start with another: pilotctl daemon start --hostname <other-name>" });
    // A start that fails otherwise says its own reason, not the taken hostname its log holds from before.
    const busy = createSocket("udp4");
    await new Promise<void>((resolve) => busy.bind(0, "127.0.0.1", resolve));
    const inUse = `127.0.0.1:${busy.address().port}`;
    const clash = await pilotctl(home, ["daemon", "start", "--listen", inUse]);
    busy.close();
    expect(clash.error).toMatchObject({ code: "address_in_use", message: `the daemon could not start: the UDP address ${inUse} is in use by another program`, hint: expect.stringContaining("pilotctl daemon start --listen") });
    // The hint's own command is the way out: set-hostname needs a running daemon, which this is not.
    const other = `cli-other-${process.pid}`;
    const started = await pilotctl(home, ["daemon", "start", "--hostname", other, "--listen", "127.0.0.1:0"]);
    expect(started.data).toMatchObject({ hostname: other, node_id: expect.any(Number) });
    await pilotctl(home, ["daemon", "stop"]);
  }, SLOW_TEST_MS);

  it("refuses a PILOT_REGISTRY or --registry that is not an http(s) URL, changing nothing", async () => {
    const home = freshHome();
    for (const bad of ["34.71.57.205:9000", "ftp://registry.example", "not a url", "https://user:secret@registry.example", "https://registry.example/v1", "https://registry.example?x=1"]) {
      const env = await pilotctl(home, ["daemon", "start", "--stun", "off"], { env: { PILOT_REGISTRY: bad } });
      expect(env.error, bad).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("PILOT_REGISTRY") });
      const flag = await pilotctl(home, ["init", "--registry", bad]);
      expect(flag.error, bad).toMatchObject({ code: "invalid_argument" });
    }
    expect(existsSync(join(home, "config.json"))).toBe(false);
  }, SLOW_TEST_MS);

  it("a refused setting leaves a fresh home unmade: no directory, no config.json", async () => {
    const home = freshHome();
    const registry = ["--registry", cluster.registry.url];
    // A local socket in a directory that is not there: the daemon could not listen on it.
    const nowhere = { PILOT_SOCKET: join(home, "..", "missing", "pilot.sock") };
    const refusals: [string[], string, NodeJS.ProcessEnv?][] = [
      [["daemon", "start", ...registry, "--listen", "nowhere"], "invalid_argument"],
      [["daemon", "start", "--foreground", ...registry, "--listen", "nowhere"], "invalid_argument"],
      [["daemon", "start", "--stun", "off"], "no_registry"],
      [["daemon", "start", ...registry, "--stun", "off", "--listen", "127.0.0.1:0"], "invalid_argument", nowhere],
      [["daemon", "start", "--foreground", ...registry, "--stun", "off", "--listen", "127.0.0.1:0"], "invalid_argument", nowhere],
      [["init", ...registry, "--hostname", "Not_Valid"], "invalid_argument"],
      [["init", "--hostname", "agent-a"], "invalid_argument"],
      [["config", "--set", "listen=nowhere"], "invalid_argument"],
    ];
    for (const [args, code, env] of refusals) {
      const r = await pilotctl(home, args, env && { env });
      expect(r.error, args.join(" ")).toMatchObject({ code });
      expect(existsSync(home), args.join(" ")).toBe(false);
    }
  }, SLOW_TEST_MS);

  it("PILOT_REGISTRY alone is enough, and --registry outranks it", async () => {
    const home = freshHome();
    const env = { PILOT_REGISTRY: cluster.registry.url };
    const started = await pilotctl(home, ["daemon", "start", "--stun", "off", "--listen", "127.0.0.1:0"], { env });
    expect(started.data).toMatchObject({ registry: cluster.registry.url, node_id: expect.any(Number) });
    await pilotctl(home, ["daemon", "stop"]);
    // The environment names a registry that is not there; the flag wins.
    const wrong = { PILOT_REGISTRY: "http://127.0.0.1:9" };
    const flagged = await pilotctl(home, ["daemon", "start", "--registry", cluster.registry.url], { env: wrong });
    expect(flagged.data).toMatchObject({ registry: cluster.registry.url, node_id: started.data["node_id"] });
    await pilotctl(home, ["daemon", "stop"]);
  }, SLOW_TEST_MS);

  it("init writes config.json; config shows it (an enrollment key only as set) and --set changes one setting after checking it", async () => {
    const home = freshHome();
    const init = await pilotctl(home, ["init", "--registry", cluster.registry.url, "--hostname", `cli-init-${process.pid}`, "--stun", "off", "--listen", "127.0.0.1:0"]);
    expect(init.data).toEqual({ config_path: join(home, "config.json"), registry: cluster.registry.url, hostname: `cli-init-${process.pid}`, public: false, stun: "off", listen: "127.0.0.1:0", socket: join(home, "pilot.sock") });
    expect((await pilotctl(home, ["config", "--set", "enroll=pek_0123456789abcdef0123456789abcdef"])).ok).toBe(false);
    const before = readFileSync(join(home, "config.json"), "utf8");
    for (const bad of ["nope=1", "=x", "registry", "public=yes", "registry=ftp://x", "hostname=Not_Valid", "hostname=admin", "listen=nowhere"]) {
      const r = await pilotctl(home, ["config", "--set", bad]);
      expect(r.code, bad).toBe(2);
      expect(r.error, bad).toMatchObject({ code: "invalid_argument", hint: expect.stringMatching(/pilotctl config/) });
    }
    expect(readFileSync(join(home, "config.json"), "utf8")).toBe(before);
    expect(await pilotctl(home, ["config", "--set", "public=true"])).toMatchObject({ data: { key: "public", value: true } });
    expect(await pilotctl(home, ["config", "--set", "hostname="])).toMatchObject({ data: { key: "hostname", value: null } });
    const config = await pilotctl(home, ["config"]);
    expect(config.data).toMatchObject({ registry: cluster.registry.url, public: true, hostname: null, config_path: join(home, "config.json"), pid_file: join(home, "pilot.pid"), log_file: join(home, "pilot.log"), socket: join(home, "pilot.sock"), registry_in_use: cluster.registry.url });
    const overridden = await pilotctl(home, ["config"], { env: { PILOT_REGISTRY: "https://elsewhere.example" } });
    expect(overridden.data).toMatchObject({ registry: cluster.registry.url, registry_in_use: "https://elsewhere.example" });
    // A plain start uses what init saved.
    const started = await pilotctl(home, ["daemon", "start"]);
    expect(started.data).toMatchObject({ registry: cluster.registry.url, node_id: expect.any(Number) });
    expect(await pilotctl(home, ["info"])).toMatchObject({ data: { public: true, stun: { status: "off" } } });
    // A setting changed for the next start survives a change the running daemon makes.
    await pilotctl(home, ["config", "--set", "listen=127.0.0.1:0"]);
    await pilotctl(home, ["config", "--set", "stun=127.0.0.1:3478"]);
    expect(await pilotctl(home, ["set-private"])).toMatchObject({ ok: true });
    expect((await pilotctl(home, ["config"])).data).toMatchObject({ stun: "127.0.0.1:3478", public: false });
    await pilotctl(home, ["daemon", "stop"]);
  }, SLOW_TEST_MS);
});

describe("PILOT_SOCKET", () => {
  it("puts the local socket where it says, for the daemon and for every command", async () => {
    const home = freshHome();
    const dir = mkdtempSync(join(tmpdir(), "pilot-sock-"));
    homes.push(dir);
    const env = { PILOT_SOCKET: join(dir, "agent.sock") };
    const started = await pilotctl(home, ["daemon", "start", "--registry", cluster.registry.url, "--stun", "off", "--listen", "127.0.0.1:0"], { env });
    expect(started.data).toMatchObject({ socket: join(dir, "agent.sock") });
    expect(existsSync(join(home, "pilot.sock"))).toBe(false);
    expect(await pilotctl(home, ["info"], { env })).toMatchObject({ ok: true, data: { node_id: started.data["node_id"] } });
    expect((await pilotctl(home, ["info"])).error).toMatchObject({ code: "not_running" });
    expect(await pilotctl(home, ["daemon", "stop"], { env })).toMatchObject({ ok: true });
  }, SLOW_TEST_MS);

  it("refuses a socket in a directory others may write that is not sticky, where it could be swapped", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pilot-open-"));
    homes.push(dir);
    chmodSync(dir, 0o777);
    const r = await pilotctl(freshHome(), ["info"], { env: { PILOT_SOCKET: join(dir, "pilot.sock") } });
    expect(r.error).toMatchObject({ code: "insecure_file", message: expect.stringContaining("can be written by others") });
  }, SLOW_TEST_MS);

  // Making a socket another user owns needs root (chown); CI runs as root.
  it.skipIf(process.getuid?.() !== 0)("refuses to talk to a socket another user made, sending it nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pilot-planted-"));
    homes.push(dir);
    const path = join(dir, "pilot.sock");
    let connections = 0;
    const planted = createServer(() => connections++);
    await new Promise<void>((resolve) => planted.listen(path, resolve));
    chownSync(path, 65534, 65534);
    try {
      const r = await pilotctl(freshHome(), ["info"], { env: { PILOT_SOCKET: path } });
      expect(r.error).toMatchObject({ code: "insecure_file", message: expect.stringContaining("belongs to another user") });
      // Nor will a daemon listen there in its place.
      const home = freshHome();
      mkdirSync(home, { recursive: true, mode: 0o700 });
      const start = await pilotctl(home, ["daemon", "start", "--registry", cluster.registry.url, "--stun", "off", "--foreground"], { env: { PILOT_SOCKET: path } });
      expect(start.error).toMatchObject({ code: "insecure_file" });
      expect(connections).toBe(0);
    } finally {
      planted.close();
    }
  }, SLOW_TEST_MS);
});
