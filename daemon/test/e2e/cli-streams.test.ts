/**
 * pilotctl's stream commands end to end: connect, send, recv, bench and connections between real
 * daemon processes that trust each other, driven through `pilotctl --json` like an agent would.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pilot } from "../../src/sdk/pilot.ts";
import { befriend, SLOW_TEST_MS } from "../wait.ts";
import { Cluster, PILOTCTL, pilotctl, type CtlResult, type Daemon } from "./cluster.ts";

const cluster = new Cluster();
let a: Daemon;
let b: Daemon;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await cluster.start();
  a = await cluster.daemon("cli-sa");
  b = await cluster.daemon("cli-sb", "--hostname", "streams-b");
  // Once A knows of the approval, B's replies get through.
  await befriend(a, b, "streams from the command line");
}, SLOW_TEST_MS);
afterAll(() => cluster.stop(), 60_000);

/** Backbone address of a node, as connections report it. */
const addressOf = (nodeId: number) => `0:0000.${(nodeId >>> 16).toString(16).toUpperCase().padStart(4, "0")}.${(nodeId & 0xffff).toString(16).toUpperCase().padStart(4, "0")}`;

/** Retries a command while the listener it targets (a recv starting in another process) is not up yet. */
async function onceListening(f: () => Promise<CtlResult>): Promise<CtlResult> {
  for (let i = 0; ; i++) {
    const r = await f();
    if (r.error?.code !== "connection_refused" || i === 100) return r;
    await sleep(100);
  }
}

describe("connect, send and recv", () => {
  it("deliver messages to recv, each connection one message, by node ID and by hostname on the default port", async () => {
    const receiving = pilotctl(b.home, ["recv", "1000", "--count", "2", "--timeout", "20"]);
    const sent = await onceListening(() => a.ctl("send", String(b.nodeId), "1000", "--data", "first message"));
    expect(sent.data).toEqual({ target: String(b.nodeId), node_id: b.nodeId, port: 1000, sent: "first message", response: "", response_bytes: 0, timeout: false });
    expect(await a.run("connect", "streams-b", "--message", "second, by hostname")).toEqual({
      target: "streams-b", node_id: b.nodeId, port: 1000, sent: "second, by hostname", response: "", response_bytes: 0, timeout: false,
    });
    const got = await receiving;
    expect(got.data).toEqual({
      messages: [
        { seq: 0, src_addr: addressOf(a.nodeId), node_id: a.nodeId, src_port: expect.any(Number), port: 1000, data: "first message", bytes: 13 },
        { seq: 1, src_addr: addressOf(a.nodeId), node_id: a.nodeId, src_port: expect.any(Number), port: 1000, data: "second, by hostname", bytes: 19 },
      ],
      timeout: false,
    });
    expect(got.data["messages"][0].src_port).toBeGreaterThanOrEqual(49152);
  }, SLOW_TEST_MS);

  it("recv reports timeout: true with what it has when nothing comes", async () => {
    expect(await b.run("recv", "1010", "--timeout", "1")).toEqual({ messages: [], timeout: true });
  }, SLOW_TEST_MS);

  it("connect reads the echo's reply, with the message from --message or from stdin", async () => {
    expect(await a.run("connect", String(b.nodeId), "7", "--message", "ping me back")).toEqual({
      target: String(b.nodeId), node_id: b.nodeId, port: 7, sent: "ping me back", response: "ping me back", response_bytes: 12, timeout: false,
    });
    const text = "line one\nline two: héllo ✓\n";
    const piped = await pilotctl(a.home, ["connect", "streams-b", "7"], { stdin: text });
    expect(piped.data).toEqual({ target: "streams-b", node_id: b.nodeId, port: 7, sent: text, response: text, response_bytes: Buffer.byteLength(text), timeout: false });
  }, SLOW_TEST_MS);

  it("connect prints a reply the peer never ends once the timeout passes, flagged timeout: true", async () => {
    const pilot = await Pilot.connect(b.home);
    const server = await pilot.listen(1011, (conn) => {
      conn.once("data", () => conn.write("an answer, but no end"));
      conn.on("error", () => undefined);
    });
    // The timeout covers the dial and the answer too: long enough for a busy machine.
    const r = await a.run("connect", String(b.nodeId), "1011", "--message", "question", "--timeout", "5");
    expect(r).toMatchObject({ node_id: b.nodeId, sent: "question", response: "an answer, but no end", response_bytes: 21, timeout: true });
    server.close();
    pilot.close();
  }, SLOW_TEST_MS);
});

describe("bench and connections", () => {
  it("bench streams 8 MiB through the echo and verifies it", async () => {
    const r = await a.run("bench", "streams-b", "8");
    expect(r).toEqual({
      target: "streams-b", node_id: b.nodeId, sent_bytes: 8 << 20, recv_bytes: 8 << 20,
      send_duration_ms: expect.any(Number), total_duration_ms: expect.any(Number), send_mbps: expect.any(Number), total_mbps: expect.any(Number), verified: true,
    });
    expect(r["total_duration_ms"]).toBeGreaterThanOrEqual(r["send_duration_ms"]);
    console.log(`pilotctl bench 8 MiB: send ${r["send_mbps"]} MiB/s, round trip ${r["total_mbps"]} MiB/s`);
  }, SLOW_TEST_MS);

  it("bench shows progress on stderr without --json, and nothing of it on stdout", async () => {
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(process.execPath, [PILOTCTL, "bench", String(b.nodeId), "2"], { env: { ...process.env, PILOT_HOME: a.home }, timeout: 30_000 }, (err, stdout, stderr) =>
        err ? reject(err) : resolve({ stdout, stderr }),
      ),
    );
    expect(JSON.parse(stdout)).toMatchObject({ sent_bytes: 2 << 20, verified: true });
    // The echo's tenths as it comes back (a big piece may pass two at once): what has made the
    // round trip, never ahead of it.
    const echoed = [...stderr.matchAll(/bench: (\d+)% echoed \(([\d.]+) of 2 MiB; ([\d.]+) MiB sent\)/g)].map((m) => m.slice(1).map(Number));
    const percents = echoed.map(([percent]) => percent!);
    expect(percents.length).toBeGreaterThan(1);
    expect(percents.at(-1)).toBe(100);
    expect(percents).toEqual([...percents].sort((x, y) => x - y));
    for (const [percent, mib, sent] of echoed) {
      expect(mib).toBeGreaterThanOrEqual((percent! / 100) * 2 - 0.05);
      expect(sent).toBeGreaterThanOrEqual(mib!);
    }
  }, SLOW_TEST_MS);

  it("connections lists the daemon's stream connections", async () => {
    const r = await a.run("connections");
    expect(Array.isArray(r["connections"])).toBe(true);
    expect(r["total"]).toBe(r["connections"].length);
  }, SLOW_TEST_MS);
});

describe("failures", () => {
  it("connect to a port nobody listens on is refused", async () => {
    const r = await a.ctl("connect", String(b.nodeId), "4444", "--message", "anyone?");
    expect(r.code).toBe(1);
    expect(r.error).toMatchObject({ code: "connection_refused", hint: expect.any(String) });
  }, SLOW_TEST_MS);

  it("a stranger cannot find the node to connect to", async () => {
    const c = await cluster.daemon("cli-sc");
    const r = await c.ctl("connect", String(b.nodeId), "7", "--message", "hello?");
    expect(r.code).toBe(1);
    expect(r.error).toMatchObject({ code: "not_found" });
  }, SLOW_TEST_MS);

  it("bad arguments exit 2 with invalid_argument, and context documents the commands", async () => {
    const bad = [
      ["connect"], ["connect", "x", "0"], ["connect", "x", "70000"], ["connect", "x", "1000", "extra"], ["connect", "x", "--timeout", "0"],
      ["send", "x", "1000"], ["send", "x"], ["bench", "x", "-5"], ["bench", "x", "1025"], ["bench"], ["recv", "abc"], ["recv", "1000", "--count", "0"], ["connections", "x"],
    ];
    for (const args of bad) {
      const r = await a.ctl(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.error, args.join(" ")).toMatchObject({ code: "invalid_argument", hint: expect.any(String) });
    }
    const context = await a.run("context");
    expect(Object.keys(context["commands"])).toEqual(expect.arrayContaining(["connect", "send", "recv", "bench", "connections", "listen"]));
    expect(Object.keys(context["error_codes"])).toEqual(
      expect.arrayContaining(["connection_refused", "connection_reset", "peer_cut_off", "port_in_use", "too_many_connections", "invalid_frame"]),
    );
  }, SLOW_TEST_MS);
});
