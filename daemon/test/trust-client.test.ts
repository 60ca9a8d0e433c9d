/** Trust through the daemon's registry client, with handshakes relayed over the node channel. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../src/identity.ts";
import type { LiveChannel } from "../src/live-channel.ts";
import type { NodeEvent } from "@pilot/protocol";
import { RegistryClient } from "../src/registry-client.ts";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";

let registry: LocalRegistry;
beforeAll(async () => {
  registry = await startLocalRegistry();
});
afterAll(() => registry?.close());

async function node(): Promise<{ client: RegistryClient; id: number }> {
  const client = new RegistryClient({ url: registry.url, identity: Identity.generate() });
  const { node } = await client.register();
  return { client, id: node.node_id };
}

function inbox(client: RegistryClient) {
  const events: NodeEvent[] = [];
  let greeted = 0;
  const channel: LiveChannel<NodeEvent> = client.nodeChannel({
    onEvent: (e) => {
      if (e.type === "hello") greeted++;
      else events.push(e);
    },
    initialBackoffMs: 50,
  });
  const waitFor = async <T extends NodeEvent["type"]>(type: T, match: (e: Extract<NodeEvent, { type: T }>) => boolean = () => true) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = events.findIndex((e) => e.type === type && match(e as Extract<NodeEvent, { type: T }>));
      if (i >= 0) return events.splice(i, 1)[0] as Extract<NodeEvent, { type: T }>;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${type}: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const greetedOnce = async () => {
    while (greeted === 0) await new Promise((r) => setTimeout(r, 5));
  };
  return { channel, events, waitFor, greetedOnce };
}

describe("trust through the registry client", () => {
  it("request → pending → approve → trusted on both sides, with the approval pushed to the requester", async () => {
    const a = await node();
    const b = await node();
    const aInbox = inbox(a.client);
    await aInbox.greetedOnce();
    expect(await a.client.handshake(b.id, "want to collaborate on data analysis")).toEqual({ status: "sent", node_id: b.id });
    expect(await b.client.pendingHandshakes()).toEqual([expect.objectContaining({ node_id: a.id })]);
    await b.client.approveHandshake(a.id);
    expect(await aInbox.waitFor("handshake_approved")).toMatchObject({ node_id: b.id, mutual: false });
    expect((await a.client.trusted()).map((t) => t.node_id)).toEqual([b.id]);
    expect((await b.client.trusted()).map((t) => t.node_id)).toEqual([a.id]);
    expect((await a.client.resolve(b.id)).node_id).toBe(b.id);
    await b.client.untrust(a.id);
    expect(await aInbox.waitFor("trust_revoked")).toMatchObject({ node_id: b.id });
    await expect(a.client.resolve(b.id)).rejects.toMatchObject({ code: "not_found" });
    aInbox.channel.close();
  });

  it("pushes requests to a connected target at once", async () => {
    const b = await node();
    const bInbox = inbox(b.client);
    await bInbox.greetedOnce();
    const senders = await Promise.all(Array.from({ length: 30 }, () => node()));
    const delays: number[] = [];
    for (const s of senders) {
      const sent = performance.now();
      await s.client.handshake(b.id, "hello there");
      await bInbox.waitFor("handshake_request", (e) => e.node_id === s.id);
      delays.push(performance.now() - sent);
    }
    delays.sort((x, y) => x - y);
    const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!.toFixed(1);
    console.log(`relayed handshake over loopback, request sent → pending on the target (${delays.length} runs): min ${at(0)} ms, median ${at(0.5)} ms, p99 ${at(0.99)} ms`);
    expect(await b.client.pendingHandshakes()).toHaveLength(30);
    bInbox.channel.close();
  });

  it("delivers what arrived while the target was offline when it connects, once", async () => {
    const a = await node();
    const b = await node();
    await a.client.handshake(b.id, "while you were away");
    const later = inbox(b.client);
    expect(await later.waitFor("handshake_request")).toMatchObject({ node_id: a.id, justification: "while you were away" });
    await b.client.rejectHandshake(a.id, "not now");
    later.channel.close();
    // Acknowledged events are not sent again.
    const again = inbox(b.client);
    await again.greetedOnce();
    await new Promise((r) => setTimeout(r, 200));
    expect(again.events).toEqual([]);
    again.channel.close();
    // The requester, offline until now, receives the rejection and its reason.
    const aInbox = inbox(a.client);
    expect(await aInbox.waitFor("handshake_rejected")).toMatchObject({ node_id: b.id, reason: "not now" });
    aInbox.channel.close();
  });

  it("gets an event again on the next connection when its handler failed, and everything after it", async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    await a.client.handshake(b.id, "first");
    await c.client.handshake(b.id, "second");
    const seen: number[] = [];
    const failing = b.client.nodeChannel({
      onEvent: async (e) => {
        if (e.type !== "handshake_request") return;
        seen.push(e.seq);
        if (e.node_id === a.id) throw new Error("disk full");
      },
    });
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    failing.close();
    const again = inbox(b.client);
    const first = await again.waitFor("handshake_request");
    const second = await again.waitFor("handshake_request");
    expect([first.node_id, second.node_id]).toEqual([a.id, c.id]);
    expect([first.seq, second.seq]).toEqual(seen);
    again.channel.close();
  });

  it("approves crossing requests as mutual", async () => {
    const a = await node();
    const b = await node();
    await a.client.handshake(b.id, "want to connect");
    expect(await b.client.handshake(a.id, "want to connect")).toEqual({ status: "approved", node_id: a.id, mutual: true, expires_at: null });
    expect(await a.client.trusted()).toEqual([expect.objectContaining({ node_id: b.id, mutual: true })]);
  });
});
