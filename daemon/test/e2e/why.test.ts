/**
 * `pilotctl why` with real daemons: a trusted peer with a direct tunnel, a request pending, one
 * rejected, a private node this node may not see (answered exactly as a node that does not exist,
 * in JSON and in words, after the same single resolve), the registry stopped, the daemon stopped,
 * and bad command lines.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress, MAX_NODE_ID } from "@pilot/protocol";
import { Pilot } from "../../src/sdk/pilot.ts";
import { CONTROL } from "../../src/services/peer-text.ts";
import { CHECKOUT_PILOTCTL, Cluster, startDaemon, type Daemon } from "./cluster.ts";
import { countingProxy, type CountingProxy } from "./counting-proxy.ts";
import { SLOW_TEST_MS, waitFor } from "../wait.ts";

const run = promisify(execFile);
const cluster = new Cluster();
const tag = process.pid;
/** The requester goes to the registry through a window that notes its requests and can be shut. */
let window: CountingProxy;
let a: Daemon, b: Daemon, c: Daemon, d: Daemon;

beforeAll(async () => {
  await cluster.start();
  window = await countingProxy(cluster.registry.url);
  a = await startDaemon({ name: "why-a", registry: window.url, stun: `127.0.0.1:${cluster.stunPort}`, listen: "127.0.0.1:0", flags: ["--hostname", `why-a-${tag}`] });
  cluster.daemons.push(a);
  const named = (n: string) => cluster.daemon(`why-${n}`, "--hostname", `why-${n}-${tag}`);
  [b, c, d] = await Promise.all([named("b"), named("c"), named("d")]);
}, 120_000);
afterAll(async () => {
  await window?.close();
  await cluster.stop();
}, 60_000);

/** What pilotctl prints for people (no --json). */
async function words(home: string, ...args: string[]): Promise<string> {
  const [file, ...argv] = CHECKOUT_PILOTCTL;
  return (await run(file!, [...argv, ...args], { env: { ...process.env, PILOT_HOME: home } })).stdout;
}

/** a's answer to `why <name> 80`, and the requests naming a node that it made to the registry meanwhile, the name replaced. */
async function asking(name: string) {
  const from = window.requests.length;
  const data = await a.run("why", name, "80");
  const asked = window.requests.slice(from).filter((r) => r.includes("/resolve/") || r.includes("/handshakes") || r.includes("/path"));
  return { data, asked: asked.map((r) => r.replace(encodeURIComponent(name), "<target>")) };
}

/** The text with the name as typed put in place of `name` (a whole token: not inside an endpoint or a timestamp). */
const unnamed = (text: string, name: string) => text.replace(new RegExp(`(?<![\\w.:-])${name.replace(/[.:]/g, "\\$&")}(?![\\w.:-])`, "g"), "<target>");

describe("pilotctl why", () => {
  it("answers a private node this node may not see exactly as one that does not exist, by hostname, node ID and address, after the same one resolve", async () => {
    const ghostId = MAX_NODE_ID - 2;
    const pairs: [string, string][] = [
      [`why-c-${tag}`, `why-ghost-${tag}`],
      [String(c.nodeId), String(ghostId)],
      [formatAddress({ network: 0, node: c.nodeId }), formatAddress({ network: 0, node: ghostId })],
    ];
    for (const [hidden, missing] of pairs) {
      const [x, y] = [await asking(hidden), await asking(missing)];
      expect(x.data["target"]).toBe(hidden);
      expect(unnamed(JSON.stringify(x.data), hidden)).toBe(unnamed(JSON.stringify(y.data), missing));
      expect(x.data).toMatchObject({ reachable: false, node: null, trust: { state: "none" }, networks: [], policy: [] });
      expect(x.data["findings"].map((f: { code: string }) => f.code)).toEqual(["not_visible"]);
      expect(unnamed(await words(a.home, "why", hidden, "80"), hidden)).toBe(unnamed(await words(a.home, "why", missing, "80"), missing));
      // Each asked the registry one resolve, the same one, and nothing else about the target.
      expect(x.asked).toEqual(["GET /v1/resolve/<target>"]);
      expect(y.asked).toEqual(x.asked);
    }
    // The private node's tunnel table holds no sign of the requester: nothing probed it.
    expect((await c.run("peers"))["peers"]).toEqual([]);
  }, SLOW_TEST_MS);

  it("says a trusted peer is reachable, over a direct path, once a tunnel is up", async () => {
    await a.run("handshake", `why-b-${tag}`, "working together");
    await b.run("approve", String(a.nodeId));
    await waitFor(async () => (await a.run("why", `why-b-${tag}`))["trust"]["state"] === "trusted", "a to hear of the approval");
    const before = await a.run("why", `why-b-${tag}`, "7");
    expect(before).toMatchObject({ reachable: true, node: { node_id: b.nodeId, online: true }, path: { state: "none" }, trust: { state: "trusted", since: expect.any(String) } });
    await a.run("ping", String(b.nodeId), "--count", "1");
    const r = await a.run("why", `why-b-${tag}`, "7");
    expect(r).toMatchObject({ reachable: true, daemon: { running: true }, registry: { reachable: true, error: null }, path: { state: "direct", endpoint: expect.stringMatching(/^127\.0\.0\.1:/), last_handshake_at: expect.any(String) } });
    expect(r["findings"].map((f: { code: string }) => f.code)).toEqual(["trusted", "tunnel_up"]);
    expect(await words(a.home, "why", `why-b-${tag}`, "7")).toMatch(/^why-b-\d+, port 7: reachable/);
  }, SLOW_TEST_MS);

  it("says a request is pending and since when, and that the target's own request waits on the other side", async () => {
    const sent = await a.run("handshake", `why-c-${tag}`, "may I");
    expect(sent["status"]).toBe("sent");
    const r = await a.run("why", `why-c-${tag}`);
    expect(r).toMatchObject({ reachable: false, node: null, trust: { state: "pending", since: expect.any(String) } });
    expect(r["findings"].map((f: { code: string }) => f.code)).toEqual(["not_visible", "trust_pending"]);
    // c may not see a either, but a's request to it is c's own to decide.
    await waitFor(async () => (await c.run("why", String(a.nodeId)))["incoming_request"] !== null, "c to hold a's request");
    const theirs = await c.run("why", String(a.nodeId));
    expect(theirs["incoming_request"]).toMatchObject({ node_id: a.nodeId, justification: "may I" });
    expect(theirs["findings"].find((f: { code: string }) => f.code === "request_waiting").hint).toContain(`pilotctl approve ${a.nodeId}`);
  }, SLOW_TEST_MS);

  it("says a request was rejected, with the reason given", async () => {
    await a.run("handshake", `why-d-${tag}`, "may I");
    await d.run("reject", String(a.nodeId), "not expecting you");
    await waitFor(async () => (await a.run("why", `why-d-${tag}`))["trust"]["state"] === "rejected", "a to hear of the rejection");
    const r = await a.run("why", `why-d-${tag}`);
    expect(r["trust"]).toMatchObject({ state: "rejected", reason: "not expecting you" });
    expect(r["findings"].find((f: { code: string }) => f.code === "trust_rejected").message).toContain("not expecting you");
  }, SLOW_TEST_MS);

  it("shows a stranger's justification and reason quoted, and no control character of them, however they were written", async () => {
    // Set the window title, copy to the clipboard, erase the line, forge one, turn the text around.
    const hostile = "hi\u001b]0;owned\u0007\u001b]52;c;Y3VybCBldmls\u0007\r\u001b[2K  info  reviewed by your admin\nnext\u009b2J\u202etxt.exe";
    const [e, f] = await Promise.all([cluster.daemon("why-e", "--hostname", `why-e-${tag}`), cluster.daemon("why-f", "--hostname", `why-f-${tag}`)]);
    await e.run("handshake", String(a.nodeId), hostile);
    await a.run("handshake", `why-f-${tag}`, "may I");
    await f.run("reject", String(a.nodeId), hostile);
    await waitFor(async () => (await a.run("why", String(e.nodeId)))["incoming_request"] !== null, "a to hold e's request");
    await waitFor(async () => (await a.run("why", `why-f-${tag}`))["trust"]["state"] === "rejected", "a to hear of f's rejection");
    for (const target of [String(e.nodeId), `why-f-${tag}`]) {
      const text = await words(a.home, "why", target);
      expect(text, target).not.toMatch(new RegExp(`(?![\\n\\t])${CONTROL}`, "u"));
      // Quoted, its line break and controls written out: it cannot pass for a line of the answer.
      expect(text, target).toContain("\\u001b]0;owned\\u0007");
      expect(text, target).toContain("reviewed by your admin\\nnext");
    }
    // The JSON keeps the text as it was sent.
    expect((await a.run("why", String(e.nodeId)))["incoming_request"]["justification"]).toBe(hostile);
  }, SLOW_TEST_MS);

  it("refuses a bad port, a missing or malformed target and this node itself", async () => {
    for (const bad of ["0", "65536", "abc"]) {
      expect(await a.ctl("why", String(b.nodeId), bad), bad).toMatchObject({ code: 2, error: { code: "invalid_argument", message: expect.stringContaining("port") } });
    }
    expect(await a.ctl("why")).toMatchObject({ code: 2, error: { code: "invalid_argument" } });
    expect(await a.ctl("why", "not a name!")).toMatchObject({ code: 2, error: { code: "invalid_argument" } });
    // A program on the local socket gets the same refusal from the daemon itself.
    const pilot = await Pilot.connect(a.home);
    try {
      await expect(pilot.call("why", { target: "not a name!" })).rejects.toMatchObject({ code: "invalid_argument" });
    } finally {
      pilot.close();
    }
    expect(await a.ctl("why", String(a.nodeId))).toMatchObject({ code: 1, error: { code: "invalid_argument", message: expect.stringContaining("this node") } });
  }, SLOW_TEST_MS);

  it("with the registry gone, says so and still reports this node's side and the tunnel it holds", async () => {
    await window.close();
    const r = await a.run("why", String(b.nodeId), "7");
    expect(r["registry"]).toMatchObject({ reachable: false, error: expect.stringContaining("cannot reach the registry") });
    expect(r).toMatchObject({ reachable: true, nat: { lan_addrs: expect.any(Array) }, node: null, path: { state: "direct" }, trust: { state: "trusted" } });
    expect(r["findings"].map((f: { code: string }) => f.code)).toEqual(["registry_unreachable", "trusted", "tunnel_up"]);
    expect(await words(a.home, "why", String(b.nodeId))).toContain("registry unreachable");
  }, SLOW_TEST_MS);

  it("with the daemon stopped, says so and what to run, with exit code 0", async () => {
    await a.stop();
    const r = await a.ctl("why", String(b.nodeId), "7");
    expect(r).toMatchObject({ code: 0, data: { reachable: false, daemon: { running: false }, port: 7, registry: null, path: null } });
    expect(r.data["findings"]).toEqual([expect.objectContaining({ code: "daemon_not_running", hint: "run pilotctl daemon start" })]);
    expect(await words(a.home, "why", String(b.nodeId))).toContain("pilotctl daemon start");
    // A bad port is still a bad command line, daemon or not.
    expect(await a.ctl("why", String(b.nodeId), "0")).toMatchObject({ code: 2 });
  }, SLOW_TEST_MS);
});
