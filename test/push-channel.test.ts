/** The network's push channel: live membership events over hibernatable WebSockets. */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CHANNEL_CLOSE, type MemberPage } from "@pilot/protocol";
import { asPerson, call, createNetwork, errorOf, join, openChannel, openOwnerView, register, signUp } from "./helpers.ts";

async function networkWith(count: number) {
  const owner = await signUp();
  const net = await createNetwork(owner);
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const n = await register();
    await join(n, net.network_id, net.join!.token);
    nodes.push(n);
  }
  return { owner, net, nodes };
}

describe("the push channel", () => {
  it("greets a member with the network's revision and tells it who joins", async () => {
    const { owner, net, nodes: [a] } = await networkWith(1);
    const ch = await openChannel(a!, net.network_id);
    const hello = await ch.next("hello");
    expect(hello).toEqual({
      type: "hello",
      network_id: net.network_id,
      node_id: a!.nodeId,
      revision: 1,
      policy: { revision: 0, self_tagging: false, rules: [], tags: { [a!.nodeId]: [] } },
    });
    const b = await register();
    await join(b, net.network_id, net.join!.token);
    const added = await ch.next("member_added");
    expect(added).toMatchObject({ network_id: net.network_id, revision: 2, member: { node_id: b.nodeId, online: false } });
    const page = (await (await asPerson(owner, `/v1/networks/${net.network_id}/members`)).json()) as MemberPage;
    expect(page.members.find((m) => m.node_id === a!.nodeId)!.online).toBe(true);
    expect(page.members.find((m) => m.node_id === b.nodeId)!.online).toBe(false);
    ch.ws.close();
  });

  it("delivers a removal to the others and closes the removed member's socket, at once", async () => {
    const { owner, net, nodes: [a, b] } = await networkWith(2);
    const view = await openOwnerView(owner, net.network_id);
    await view.next("watching");
    const watcher = await openChannel(a!, net.network_id);
    const victim = await openChannel(b!, net.network_id);
    await watcher.next("hello");
    await victim.next("hello");
    await view.next("presence");
    await view.next("presence");
    const sent = performance.now();
    const res = await asPerson(owner, `/v1/networks/${net.network_id}/members/${b!.nodeId}`, { method: "DELETE" });
    const answered = performance.now();
    expect(res.status).toBe(204);
    const removed = await watcher.next("member_removed");
    const delivered = performance.now();
    expect(removed).toMatchObject({ node_id: b!.nodeId, reason: "removed" });
    expect(await victim.next("member_removed")).toMatchObject({ node_id: b!.nodeId });
    expect((await victim.waitClosed()).code).toBe(CHANNEL_CLOSE.removed);
    expect(await view.next("presence")).toMatchObject({ node_id: b!.nodeId, online: false });
    console.log(`removal: request → answer ${(answered - sent).toFixed(1)} ms, request → event at a member ${(delivered - sent).toFixed(1)} ms`);
    watcher.ws.close();
    view.ws.close();
  });

  it("holds one channel per member: a newer one replaces the old, and a flood of them changes nothing for the rest", async () => {
    const { owner, net, nodes: [a, b] } = await networkWith(2);
    const view = await openOwnerView(owner, net.network_id);
    await view.next("watching");
    const watcher = await openChannel(a!, net.network_id);
    await watcher.next("hello");
    const flood = [];
    for (let i = 0; i < 50; i++) flood.push(await openChannel(b!, net.network_id));
    await flood.at(-1)!.next("hello");
    for (const ch of flood.slice(0, -1)) expect((await ch.waitClosed()).code).toBe(CHANNEL_CLOSE.replaced);
    expect(flood.at(-1)!.closed()).toBeUndefined();
    // The member stayed online throughout: the owner's view heard it come online once, never go offline.
    const page = (await (await asPerson(owner, `/v1/networks/${net.network_id}/members`)).json()) as MemberPage;
    expect(page.members.find((m) => m.node_id === b!.nodeId)!.online).toBe(true);
    expect(view.events.filter((e) => e.type === "presence")).toEqual([
      { type: "presence", network_id: net.network_id, node_id: a!.nodeId, online: true },
      { type: "presence", network_id: net.network_id, node_id: b!.nodeId, online: true },
    ]);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b!.nodeId}`, { method: "DELETE" })).status).toBe(204);
    expect((await flood.at(-1)!.waitClosed()).code).toBe(CHANNEL_CLOSE.removed);
    // Members are never told who comes and goes online: fifty channels opening sent the watcher nothing.
    await view.next("presence");
    expect(watcher.events.map((e) => e.type)).toEqual(["member_removed"]);
    watcher.ws.close();
    view.ws.close();
  });

  it("survives eviction of the network's object with sockets open", async () => {
    const { owner, net, nodes: [a, b] } = await networkWith(2);
    const watcher = await openChannel(a!, net.network_id);
    const victim = await openChannel(b!, net.network_id);
    await watcher.next("hello");
    await victim.next("hello");
    await evictDurableObject(env.NETWORK_HUB.getByName(String(net.network_id)));
    // The new instance still knows the sockets: online state, pushes and closes all work.
    const page = (await (await asPerson(owner, `/v1/networks/${net.network_id}/members`)).json()) as MemberPage;
    expect(page.members.every((m) => m.online)).toBe(true);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b!.nodeId}`, { method: "DELETE" })).status).toBe(204);
    expect(await watcher.next("member_removed")).toMatchObject({ node_id: b!.nodeId });
    expect((await victim.waitClosed()).code).toBe(CHANNEL_CLOSE.removed);
    watcher.ws.close();
  });

  it("tells members when a member's endpoints change, and when one deregisters", async () => {
    const { net, nodes: [a, b] } = await networkWith(2);
    const ch = await openChannel(a!, net.network_id);
    await ch.next("hello");
    await call("/v1/nodes/self/heartbeat", { body: { endpoint: "198.51.100.4:7000" }, token: b!.token });
    expect(await ch.next("member_updated")).toMatchObject({ member: { node_id: b!.nodeId, endpoint: "198.51.100.4:7000" } });
    await call("/v1/nodes/self", { method: "DELETE", token: b!.token });
    expect(await ch.next("member_removed")).toMatchObject({ node_id: b!.nodeId, reason: "deregistered" });
    ch.ws.close();
  });

  it("announces deletion and closes every socket", async () => {
    const { owner, net, nodes: [a] } = await networkWith(1);
    const ch = await openChannel(a!, net.network_id);
    await ch.next("hello");
    await asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" });
    expect(await ch.next("network_deleted")).toEqual({ type: "network_deleted", network_id: net.network_id });
    expect((await ch.waitClosed()).code).toBe(CHANNEL_CLOSE.deleted);
  });

  it("is only for members, with a node token, as a WebSocket", async () => {
    const { net } = await networkWith(1);
    const outsider = await register();
    await expect(openChannel(outsider, net.network_id)).rejects.toThrow(/404/);
    expect(await errorOf(await call(`/v1/networks/${net.network_id}/channel`))).toMatchObject({ status: 401 });
    const member = (await networkWith(1)).nodes[0]!;
    expect(await errorOf(await call(`/v1/networks/1/channel`, { token: member.token }))).toMatchObject({ status: 400 });
  });

  it("answers ping with pong", async () => {
    const { net, nodes: [a] } = await networkWith(1);
    const res = await call(`/v1/networks/${net.network_id}/channel`, { token: a!.token, headers: { upgrade: "websocket" } });
    const ws = res.webSocket!;
    const got: string[] = [];
    ws.addEventListener("message", (e) => got.push(e.data as string));
    ws.accept();
    ws.send("ping");
    for (let i = 0; i < 50 && !got.includes("pong"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toContain("pong");
    ws.close();
  });
});
