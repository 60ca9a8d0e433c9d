/** A node's own channel: handshake traffic pushed live, queued while offline, acknowledged by sequence. */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { NODE_CHANNEL_CLOSE } from "@pilot/protocol";
import { INBOX_LIMIT } from "../worker/nodes/inbox.ts";
import { call, openNodeChannel, register, type Registered } from "./helpers.ts";

const handshake = (from: Registered, to: Registered, justification = "let's work together") =>
  call("/v1/handshakes", { body: { target: String(to.nodeId), justification }, token: from.token });

describe("the node channel", () => {
  it("pushes a handshake request to a connected target at once", async () => {
    const [a, b] = [await register(), await register()];
    const inbox = await openNodeChannel(b);
    expect(await inbox.next("hello")).toEqual({ type: "hello", node_id: b.nodeId, truncated: false });
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const sender = await register();
      const sent = performance.now();
      await handshake(sender, b, `request ${i}`);
      const event = await inbox.next("handshake_request");
      delays.push(performance.now() - sent);
      expect(event).toMatchObject({ node_id: sender.nodeId, justification: `request ${i}` });
    }
    delays.sort((x, y) => x - y);
    console.log(`relayed handshake, request sent → event at the target (20 runs): median ${delays[10]!.toFixed(1)} ms, max ${delays[19]!.toFixed(1)} ms`);
    await handshake(a, b);
    expect((await inbox.next("handshake_request")).node_id).toBe(a.nodeId);
    inbox.ws.close();
  });

  it("queues events while the node is offline and delivers them, in order, when it reconnects", async () => {
    const [a, b] = [await register(), await register()];
    await handshake(a, b, "while you were away");
    const c = await register();
    await handshake(c, b, "me too");
    const inbox = await openNodeChannel(b);
    await inbox.next("hello");
    const first = await inbox.next("handshake_request");
    const second = await inbox.next("handshake_request");
    expect([first.node_id, second.node_id]).toEqual([a.nodeId, c.nodeId]);
    expect(second.seq).toBeGreaterThan(first.seq);
    inbox.ws.close();
  });

  it("sends unacknowledged events again on the next connection, and forgets acknowledged ones", async () => {
    const [a, b, c] = [await register(), await register(), await register()];
    await handshake(a, b);
    await handshake(c, b);
    const first = await openNodeChannel(b);
    await first.next("hello");
    const one = await first.next("handshake_request");
    await first.next("handshake_request");
    first.ws.send(JSON.stringify({ type: "ack", seq: one.seq }));
    // Garbage on the channel is ignored, and the channel stays up.
    first.ws.send("not json");
    first.ws.send(JSON.stringify({ type: "ack", seq: "all" }));
    first.ws.send(new Uint8Array([1, 2, 3]));
    first.ws.send("ping");
    for (let i = 0; i < 20 && first.closed() === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(first.closed()).toBeUndefined();
    first.ws.close();

    const again = await openNodeChannel(b);
    await again.next("hello");
    const redelivered = await again.next("handshake_request");
    expect(redelivered.node_id).toBe(c.nodeId);
    again.ws.send(JSON.stringify({ type: "ack", seq: redelivered.seq }));
    await new Promise((r) => setTimeout(r, 50));
    again.ws.close();
    const third = await openNodeChannel(b);
    await third.next("hello");
    await new Promise((r) => setTimeout(r, 100));
    expect(third.events).toEqual([]);
    third.ws.close();
  });

  it("says in its greeting when a full inbox dropped events, once", async () => {
    const b = await register();
    const hub = env.NODE_HUB.getByName(String(b.nodeId));
    for (let i = 0; i < INBOX_LIMIT + 5; i++) await hub.deliver({ type: "trust_revoked", node_id: 1 });
    const first = await openNodeChannel(b);
    expect(await first.next("hello")).toMatchObject({ truncated: true });
    const events = [];
    for (let i = 0; i < INBOX_LIMIT; i++) events.push(await first.next("trust_revoked"));
    expect(events.at(-1)!.seq - events[0]!.seq).toBe(INBOX_LIMIT - 1);
    first.ws.close();
    const second = await openNodeChannel(b);
    expect(await second.next("hello")).toMatchObject({ truncated: false });
    second.ws.close();
  });

  it("makes the node show online while it is connected", async () => {
    const [viewer, b] = [await register(), await register()];
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: b.token });
    expect(((await (await call(`/v1/resolve/${b.nodeId}`, { token: viewer.token })).json()) as { online: boolean }).online).toBe(false);
    const inbox = await openNodeChannel(b);
    await inbox.next("hello");
    expect(((await (await call(`/v1/resolve/${b.nodeId}`, { token: viewer.token })).json()) as { online: boolean }).online).toBe(true);
    inbox.ws.close();
  });

  it("closes when the node deregisters, and is only for a node with a token, as a WebSocket", async () => {
    const b = await register();
    const inbox = await openNodeChannel(b);
    await inbox.next("hello");
    await call("/v1/nodes/self", { method: "DELETE", token: b.token });
    expect((await inbox.waitClosed()).code).toBe(NODE_CHANNEL_CLOSE.deregistered);
    await expect(openNodeChannel(b)).rejects.toThrow(/401/);
    const other = await register();
    expect((await call("/v1/nodes/self/channel", { token: other.token })).status).toBe(400);
  });

  it("tells every peer a deregistered node trusted that the trust is gone", async () => {
    const [a, b, c] = [await register(), await register(), await register()];
    await handshake(b, a);
    expect((await call(`/v1/handshakes/${b.nodeId}/approve`, { body: {}, token: a.token })).status).toBe(200);
    await handshake(b, c);
    expect((await call(`/v1/handshakes/${b.nodeId}/approve`, { body: {}, token: c.token })).status).toBe(200);
    const [inboxA, inboxC] = [await openNodeChannel(a), await openNodeChannel(c)];
    expect((await call("/v1/nodes/self", { method: "DELETE", token: b.token })).status).toBe(204);
    for (const inbox of [inboxA, inboxC]) {
      expect(await inbox.next("trust_revoked")).toMatchObject({ node_id: b.nodeId });
      inbox.ws.close();
    }
  });

  it("holds one channel per node: a newer connection replaces the old", async () => {
    const b = await register();
    const first = await openNodeChannel(b);
    await first.next("hello");
    const second = await openNodeChannel(b);
    await second.next("hello");
    expect((await first.waitClosed()).code).toBe(NODE_CHANNEL_CLOSE.replaced);
    const peer = await register();
    await handshake(peer, b, "to the newer one");
    expect(await second.next("handshake_request")).toMatchObject({ node_id: peer.nodeId });
    second.ws.close();
  });
});
