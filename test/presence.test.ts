import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { OFFLINE_AFTER_SECONDS, type HeartbeatResponse, type ResolvedNode, type SelfNode } from "@pilot/protocol";
import type { NodeHub } from "../durable-objects/node-hub.ts";
import { call, errorOf, register, type Registered } from "./helpers.ts";

const beat = (n: Registered, body: unknown = {}) => call("/v1/nodes/self/heartbeat", { body, token: n.token });
const resolve = (n: Registered, target: string | number) => call(`/v1/resolve/${target}`, { token: n.token });

/** Counts every UPDATE of the nodes table, so tests can see whether a request wrote to D1. */
beforeAll(async () => {
  await env.DB.batch([
    env.DB.prepare("CREATE TABLE IF NOT EXISTS test_node_writes (n INTEGER NOT NULL)"),
    env.DB.prepare("INSERT INTO test_node_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_node_writes)"),
    env.DB.prepare(
      "CREATE TRIGGER IF NOT EXISTS test_count_node_writes AFTER UPDATE ON nodes BEGIN UPDATE test_node_writes SET n = n + 1; END",
    ),
  ]);
});
const nodeWrites = async () => (await env.DB.prepare("SELECT n FROM test_node_writes").first<{ n: number }>())!.n;

const report = { endpoint: "203.0.113.7:37736", lan_addrs: ["192.168.1.20:37736", "[fd00::20]:37736"], capabilities: ["relay"] };

describe("heartbeats", () => {
  it("store a changed report, and a report that changes nothing writes nothing to D1", async () => {
    const n = await register();
    const first = (await (await beat(n, report)).json()) as HeartbeatResponse;
    expect(first).toEqual({ changed: true, interval_seconds: 30, offline_after_seconds: OFFLINE_AFTER_SECONDS });
    const self = (await (await call("/v1/nodes/self", { token: n.token })).json()) as SelfNode;
    expect(self).toMatchObject(report);

    const writes = await nodeWrites();
    for (let i = 0; i < 5; i++) {
      expect(((await (await beat(n, report)).json()) as HeartbeatResponse).changed).toBe(false);
      expect(((await (await beat(n, {})).json()) as HeartbeatResponse).changed).toBe(false);
    }
    expect(await nodeWrites()).toBe(writes);

    expect(((await (await beat(n, { ...report, endpoint: "203.0.113.7:40000" })).json()) as HeartbeatResponse).changed).toBe(true);
    expect(await nodeWrites()).toBe(writes + 1);
    expect(((await (await beat(n, { endpoint: null })).json()) as HeartbeatResponse).changed).toBe(true);
  });

  it("keep a node online, and it goes offline 90 s after the last one", async () => {
    const n = await register();
    const viewer = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: n.token });

    const never = (await (await resolve(viewer, n.nodeId)).json()) as ResolvedNode;
    expect(never).toMatchObject({ online: false, last_seen: null });

    await beat(n);
    const online = (await (await resolve(viewer, n.nodeId)).json()) as ResolvedNode;
    expect(online.online).toBe(true);
    expect(Date.now() - Date.parse(online.last_seen!)).toBeLessThan(10_000);

    const stub = env.NODE_HUB.getByName(String(n.nodeId));
    await runInDurableObject(stub, (_: NodeHub, state) => {
      state.storage.kv.put("presence", { lastSeen: Date.now() - (OFFLINE_AFTER_SECONDS + 1) * 1000, epoch: 0 });
    });
    expect(((await (await resolve(viewer, n.nodeId)).json()) as ResolvedNode).online).toBe(false);
    await runInDurableObject(stub, (_: NodeHub, state) => {
      state.storage.kv.put("presence", { lastSeen: Date.now() - (OFFLINE_AFTER_SECONDS - 5) * 1000, epoch: 0 });
    });
    expect(((await (await resolve(viewer, n.nodeId)).json()) as ResolvedNode).online).toBe(true);
  });

  it.each([
    ["an endpoint without a port", { endpoint: "203.0.113.7" }],
    ["port 0", { endpoint: "203.0.113.7:0" }],
    ["port 65536", { endpoint: "203.0.113.7:65536" }],
    ["a port with a leading zero", { endpoint: "203.0.113.7:080" }],
    ["an octet over 255", { endpoint: "203.0.113.256:1" }],
    ["an unbracketed IPv6", { endpoint: "fd00::1:80" }],
    ["a bad IPv6", { endpoint: "[fd00:::1]:80" }],
    ["a hostname", { endpoint: "example.com:80" }],
    ["the unspecified IPv4 address", { endpoint: "0.0.0.0:80" }],
    ["the unspecified IPv6 address", { endpoint: "[::]:80" }],
    ["a multicast address", { endpoint: "239.1.2.3:80" }],
    ["an IPv6 multicast address", { endpoint: "[ff02::1]:80" }],
    ["the broadcast address", { endpoint: "255.255.255.255:80" }],
    ["nine LAN addresses", { lan_addrs: Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}:1`) }],
    ["a repeated LAN address", { lan_addrs: ["10.0.0.1:1", "10.0.0.1:1"] }],
    ["an upper-case capability", { capabilities: ["Relay"] }],
    ["seventeen capabilities", { capabilities: Array.from({ length: 17 }, (_, i) => `c${i}`) }],
    ["an unknown field", { last_seen: 0 }],
    ["an array body", [report]],
  ])("refuse %s and change nothing", async (_, body) => {
    const n = await register();
    await beat(n, report);
    const writes = await nodeWrites();
    expect(await errorOf(await beat(n, body))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await nodeWrites()).toBe(writes);
    const self = (await (await call("/v1/nodes/self", { token: n.token })).json()) as SelfNode;
    expect(self).toMatchObject(report);
  });
});
