/**
 * The relay (docs/relay.md): tunnel frames between nodes through their Durable Objects, behind the
 * privacy gate of resolve, with revocation taking effect before the revoking request's answer.
 *
 * What a node must never get is checked after a witness frame, sent in the same message along a path
 * that is allowed, has arrived (so the sender's object has handled the message), and a settling
 * pause for the destination's object. A slow machine can only make such a check pass that should
 * fail, never the reverse.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { NODE_CHANNEL_CLOSE, RELAY_CLOSE, RELAY_MAX_MESSAGE_BYTES, type RelayFrame } from "@pilot/protocol";
import { INBOUND_BYTES_PER_WINDOW, INBOUND_WINDOW_MS, NEW_PEERS_BURST, SENDER_BYTES_PER_SECOND } from "../worker/relay/limits.ts";
import { asPerson, call, createNetwork, errorOf, join, openNodeChannel, openRelay, register, signUp, type Registered } from "./helpers.ts";

type Relay = Awaited<ReturnType<typeof openRelay>>;

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
/** A sealed tunnel frame whose payload is `text`, as the relay sees one: its magic and opaque bytes. */
const sealed = (text: string) => ascii(`PILS${text}`);
const to = (node: Registered | number, text: string): RelayFrame => ({ node: typeof node === "number" ? node : node.nodeId, frame: sealed(text) });
/** A received message as [sender, payload] pairs. */
const read = (frames: RelayFrame[]) => frames.map((f) => [f.node, String.fromCharCode(...f.frame.subarray(4))] as const);

const NOBODY = 4_000_000_000;

async function publicNode(): Promise<Registered> {
  const n = await register();
  expect((await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: n.token })).status).toBe(200);
  return n;
}

const setPublic = (n: Registered, value: boolean) => call("/v1/nodes/self", { method: "PATCH", body: { public: value }, token: n.token });

/** Two nodes that share a network, with their relay connections open. */
async function coMembers() {
  const owner = await signUp();
  const net = await createNetwork(owner);
  const [a, b] = [await register(), await register()];
  for (const n of [a, b]) expect((await join(n, net.network_id, net.join!.token)).status).toBe(200);
  const [ra, rb] = [await openRelay(a), await openRelay(b)];
  return { owner, net, a, b, ra, rb };
}

/** Both ways between two relay connections, to show the path is open (and let both gates admit it). */
async function exchange(a: Registered, ra: Relay, b: Registered, rb: Relay, text: string) {
  ra.send([to(b, text)]);
  expect(read(await rb.next())).toEqual([[a.nodeId, text]]);
  rb.send([to(a, text)]);
  expect(read(await ra.next())).toEqual([[b.nodeId, text]]);
}

/** A node any other may reach, with its relay open: witness frames go there. */
async function witness() {
  const w = await publicNode();
  return { node: w, relay: await openRelay(w) };
}

/** Waits for the witness frame, then for the destinations' objects to settle. */
async function settled(w: { relay: Relay }, expected: number) {
  for (let i = 0; i < expected; i++) await w.relay.next();
  await new Promise((resolve) => setTimeout(resolve, 300));
}

/** What a relay connection has seen: nothing at all, and still open, for a sender told nothing. */
const nothingSeen = (r: Relay) => ({ messages: r.messages.length, texts: r.texts.length, closed: r.closed() });
const NOTHING = { messages: 0, texts: 0, closed: undefined };

/** Sends `text` every 100 ms until the receiver gets a message; returns the first one it got. */
async function firstArrival(sender: Relay, receiver: Relay, destination: Registered, text: string) {
  const deadline = Date.now() + 10_000;
  while (receiver.messages.length === 0) {
    if (Date.now() > deadline) throw new Error(`nothing reached node ${destination.nodeId}`);
    sender.send([to(destination, text)]);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return read(receiver.messages[0]!);
}

describe("the relay", () => {
  it("carries frames both ways between co-members, each message's frames grouped by destination with the sender named", async () => {
    const { a, b, ra, rb } = await coMembers();
    await exchange(a, ra, b, rb, "hello");
    const c = await publicNode();
    const rc = await openRelay(c);
    ra.send([to(b, "1"), to(c, "1"), to(b, "2"), to(c, "2"), to(b, "3")]);
    expect(read(await rb.next())).toEqual([[a.nodeId, "1"], [a.nodeId, "2"], [a.nodeId, "3"]]);
    expect(read(await rc.next())).toEqual([[a.nodeId, "1"], [a.nodeId, "2"]]);
    // A full-size message goes through whole.
    const big = ["a", "b", "c", "d"].map((c) => c.repeat(60_000));
    rb.send(big.map((part) => to(a, part)));
    expect(read(await ra.next()).map(([, text]) => text)).toEqual(big);
    for (const r of [ra, rb, rc]) r.ws.close();
  });

  it("tells a stranger nothing: frames to a private node and to a missing node vanish alike, and neither is delivered", async () => {
    const [stranger, other, target] = [await register(), await register(), await register()];
    const [toPrivate, toMissing, rt] = [await openRelay(stranger), await openRelay(other), await openRelay(target)];
    const w = await witness();
    toPrivate.send([to(target, "let me in"), to(w.node, "witness")]);
    toMissing.send([to(NOBODY, "let me in"), to(w.node, "witness")]);
    await settled(w, 2);
    expect(rt.messages).toEqual([]);
    expect(nothingSeen(toPrivate)).toEqual(NOTHING);
    expect(nothingSeen(toMissing)).toEqual(nothingSeen(toPrivate));
    for (const r of [toPrivate, toMissing, rt, w.relay]) r.ws.close();
  });

  it("lets a stranger reach a public node, within a second of it going public", async () => {
    const [stranger, target] = [await register(), await register()];
    const [rs, rt] = [await openRelay(stranger), await openRelay(target)];
    const w = await witness();
    rs.send([to(target, "too early"), to(w.node, "witness")]);
    await settled(w, 1);
    expect((await setPublic(target, true)).status).toBe(200);
    expect(await firstArrival(rs, rt, target, "now")).toEqual([[stranger.nodeId, "now"]]);
    for (const r of [rs, rt, w.relay]) r.ws.close();
  });

  it("carries a public node's answers to a private node that wrote to it first, and only its answers, until the private node's next regate", async () => {
    const [caller, service, other] = [await register(), await publicNode(), await publicNode()];
    const [rc, rs, ro] = [await openRelay(caller), await openRelay(service), await openRelay(other)];
    // Before the private node writes, the public one cannot reach it (it may not see it).
    const w = await witness();
    rs.send([to(caller, "unasked"), to(w.node, "witness")]);
    await settled(w, 1);
    expect(rc.messages).toEqual([]);
    rc.send([to(service, "hello")]);
    expect(read(await rs.next())).toEqual([[caller.nodeId, "hello"]]);
    // The answer comes back (within a second: the refusal above is held that long) ...
    expect(await firstArrival(rs, rc, caller, "answer")).toEqual([[service.nodeId, "answer"]]);
    // ... from the node written to, and from no other public node.
    ro.send([to(caller, "me too"), to(w.node, "witness")]);
    await settled(w, 1);
    expect(rc.messages.map(read).flat().filter(([from]) => from === other.nodeId)).toEqual([]);
    // Going private regates: the answers stop until the caller writes again.
    expect((await setPublic(caller, false)).status).toBe(200);
    const before = rc.messages.length;
    rs.send([to(caller, "after the regate"), to(w.node, "witness")]);
    await settled(w, 1);
    expect(rc.messages.length).toBe(before);
    for (const r of [rc, rs, ro, w.relay]) r.ws.close();
  });

  it("stops a stranger at once when the target goes private", async () => {
    const [stranger, target] = [await publicNode(), await publicNode()];
    const [rs, rt] = [await openRelay(stranger), await openRelay(target)];
    rs.send([to(target, "while public")]);
    expect(read(await rt.next())).toEqual([[stranger.nodeId, "while public"]]);
    expect((await setPublic(target, false)).status).toBe(200);
    const w = await witness();
    rs.send([to(target, "after"), to(w.node, "witness")]);
    await settled(w, 1);
    expect(rt.messages).toEqual([]);
    // The target still reaches the public stranger: only the way in was closed.
    rt.send([to(stranger, "back")]);
    expect(read(await rs.next())).toEqual([[target.nodeId, "back"]]);
    for (const r of [rs, rt, w.relay]) r.ws.close();
  });

  it("stops both ways at once when a member is removed, and carries frames again within a second of it rejoining", async () => {
    const { owner, net, a, b, ra, rb } = await coMembers();
    await exchange(a, ra, b, rb, "before");
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" })).status).toBe(204);
    const w = await witness();
    ra.send([to(b, "after"), to(w.node, "witness")]);
    rb.send([to(a, "after"), to(w.node, "witness")]);
    await settled(w, 2);
    expect([ra.messages, rb.messages]).toEqual([[], []]);
    expect((await join(b, net.network_id, net.join!.token)).status).toBe(200);
    expect(await firstArrival(ra, rb, b, "again")).toEqual([[a.nodeId, "again"]]);
    expect(await firstArrival(rb, ra, a, "again")).toEqual([[b.nodeId, "again"]]);
    for (const r of [ra, rb, w.relay]) r.ws.close();
  });

  it("stops both ways at once when a member leaves, or the network is deleted", async () => {
    const left = await coMembers();
    await exchange(left.a, left.ra, left.b, left.rb, "before");
    expect((await call(`/v1/networks/${left.net.network_id}/leave`, { method: "POST", token: left.a.token })).status).toBe(204);
    const deleted = await coMembers();
    await exchange(deleted.a, deleted.ra, deleted.b, deleted.rb, "before");
    expect((await asPerson(deleted.owner, `/v1/networks/${deleted.net.network_id}`, { method: "DELETE" })).status).toBe(204);
    const w = await witness();
    for (const { a, b, ra, rb } of [left, deleted]) {
      ra.send([to(b, "after"), to(w.node, "witness")]);
      rb.send([to(a, "after"), to(w.node, "witness")]);
    }
    await settled(w, 4);
    expect([left.ra, left.rb, deleted.ra, deleted.rb].map((r) => r.messages)).toEqual([[], [], [], []]);
    for (const r of [left.ra, left.rb, deleted.ra, deleted.rb, w.relay]) r.ws.close();
  });

  it("stops both ways at once when trust is revoked", async () => {
    const [a, b] = [await register(), await register()];
    await call("/v1/handshakes", { body: { target: String(b.nodeId), justification: "let us relay" }, token: a.token });
    expect((await call(`/v1/handshakes/${a.nodeId}/approve`, { method: "POST", token: b.token })).status).toBe(200);
    const [ra, rb] = [await openRelay(a), await openRelay(b)];
    await exchange(a, ra, b, rb, "trusted");
    expect((await call(`/v1/trust/${b.nodeId}`, { method: "DELETE", token: a.token })).status).toBe(200);
    const w = await witness();
    ra.send([to(b, "after"), to(w.node, "witness")]);
    rb.send([to(a, "after"), to(w.node, "witness")]);
    await settled(w, 2);
    expect([ra.messages, rb.messages]).toEqual([[], []]);
    for (const r of [ra, rb, w.relay]) r.ws.close();
  });

  it("stops a removed member even when its object was evicted since it last relayed", async () => {
    const { owner, net, a, b, ra, rb } = await coMembers();
    await exchange(a, ra, b, rb, "before");
    // The new instance of a's object knows nothing of b, so cannot tell b's gate to forget a.
    await evictDurableObject(env.NODE_HUB.getByName(String(a.nodeId)));
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${a.nodeId}`, { method: "DELETE" })).status).toBe(204);
    const w = await witness();
    ra.send([to(b, "after"), to(w.node, "witness")]);
    await settled(w, 1);
    expect(rb.messages).toEqual([]);
    for (const r of [ra, rb, w.relay]) r.ws.close();
  });

  it("relays only tunnel frames, and nothing a node addresses to itself", async () => {
    const { a, b, ra, rb } = await coMembers();
    ra.send([
      { node: b.nodeId, frame: ascii("GET / HTTP/1.1") },
      to(b, "sealed"),
      { node: b.nodeId, frame: ascii("PILAhello") },
      { node: b.nodeId, frame: ascii("PIL") },
      to(a, "to myself"),
    ]);
    expect((await rb.next()).map((f) => [f.node, String.fromCharCode(...f.frame)])).toEqual([
      [a.nodeId, "PILSsealed"],
      [a.nodeId, "PILAhello"],
    ]);
    // A message with nothing left to relay is dropped whole; the connection stays.
    ra.send([{ node: b.nodeId, frame: ascii("nothing") }]);
    rb.send([to(a, "witness")]);
    expect(read(await ra.next())).toEqual([[b.nodeId, "witness"]]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([ra.messages, rb.messages, ra.closed()]).toEqual([[], [], undefined]);
    for (const r of [ra, rb]) r.ws.close();
  });

  it("closes a connection that sends anything but relay messages, and answers ping", async () => {
    const n = await register();
    const first = await openRelay(n);
    first.ws.send("ping");
    await first.until(() => first.texts.length > 0, () => "pong");
    expect(first.texts).toEqual(["pong"]);
    first.ws.send("hello");
    expect(await first.waitClosed()).toMatchObject({ code: RELAY_CLOSE.malformed });
    const malformed = [new Uint8Array([0, 0, 0, 1, 0, 0]), new Uint8Array([0, 0, 0, 1, 0, 9, 1]), new Uint8Array(0), new Uint8Array(RELAY_MAX_MESSAGE_BYTES + 1)];
    for (const bytes of malformed) {
      const r = await openRelay(n);
      r.ws.send(bytes);
      expect(await r.waitClosed()).toMatchObject({ code: RELAY_CLOSE.malformed });
    }
  });

  it("holds one relay connection per node: a newer one replaces the old, and the node's channel is left alone", async () => {
    const { a, b, ra, rb } = await coMembers();
    const channel = await openNodeChannel(b);
    await channel.next("hello");
    const newer = await openRelay(b);
    expect(await rb.waitClosed()).toMatchObject({ code: RELAY_CLOSE.replaced });
    expect(channel.closed()).toBeUndefined();
    ra.send([to(b, "to the newer one")]);
    expect(read(await newer.next())).toEqual([[a.nodeId, "to the newer one"]]);
    // The channel still works (co-members' handshakes are approved at once), and only the channel
    // makes a node show online: a, with just its relay connection, does not.
    await call("/v1/handshakes", { body: { target: String(b.nodeId), justification: "still there?" }, token: a.token });
    expect(await channel.next("handshake_approved")).toMatchObject({ node_id: a.nodeId });
    const resolved = async (who: Registered, whom: Registered) => ((await (await call(`/v1/resolve/${whom.nodeId}`, { token: who.token })).json()) as { online: boolean }).online;
    expect([await resolved(a, b), await resolved(b, a)]).toEqual([true, false]);
    channel.ws.close();
    for (const r of [ra, newer]) r.ws.close();
  });

  it("closes when the node deregisters, with its channel, and stops what it relayed", async () => {
    const { a, b, ra, rb } = await coMembers();
    await exchange(a, ra, b, rb, "before");
    const channel = await openNodeChannel(b);
    await channel.next("hello");
    expect((await call("/v1/nodes/self", { method: "DELETE", token: b.token })).status).toBe(204);
    expect(await rb.waitClosed()).toMatchObject({ code: RELAY_CLOSE.deregistered });
    expect(await channel.waitClosed()).toMatchObject({ code: NODE_CHANNEL_CLOSE.deregistered });
    await expect(openRelay(b)).rejects.toThrow(/401/);
    ra.ws.close();
  });

  it("is a WebSocket for a node with a token", async () => {
    const n = await register();
    expect(await errorOf(await call("/v1/relay", { token: n.token }))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await errorOf(await call("/v1/relay", { headers: { upgrade: "websocket" } }))).toMatchObject({ status: 401, code: "token_missing" });
    expect(await errorOf(await call("/v1/relay", { token: "not-a-token", headers: { upgrade: "websocket" } }))).toMatchObject({ status: 401, code: "token_invalid" });
  });
});

describe("the relay's limits", () => {
  it("starts a bounded number of new destinations at once: the rest of the message is dropped", async () => {
    const sender = await register();
    const rs = await openRelay(sender);
    const destinations = [];
    for (let i = 0; i < NEW_PEERS_BURST + 4; i++) {
      const d = await publicNode();
      destinations.push({ node: d, relay: await openRelay(d) });
    }
    rs.send(destinations.map((d, i) => to(d.node, `to ${i}`)));
    for (const d of destinations.slice(0, NEW_PEERS_BURST)) expect(read(await d.relay.next())).toEqual([[sender.nodeId, expect.any(String)]]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(destinations.slice(NEW_PEERS_BURST).map((d) => d.relay.messages.length)).toEqual([0, 0, 0, 0]);
    // The destinations it has started are not charged again.
    rs.send([to(destinations[0]!.node, "again")]);
    expect(read(await destinations[0]!.relay.next())).toEqual([[sender.nodeId, "again"]]);
    for (const r of [rs, ...destinations.map((d) => d.relay)]) r.ws.close();
  });

  it("never delivers to a node more than its inbound budget allows in the time a flood takes", async () => {
    const { a, b, ra, rb } = await coMembers();
    await exchange(a, ra, b, rb, "ready");
    const { arrived, elapsed } = await flood(ra, [b], [rb]);
    // One sender gets at most the budget in each window the flood (and the exchange before it)
    // could have touched: a missing limit breaks this on any machine fast enough to flood.
    expect(arrived).toBeLessThanOrEqual((Math.floor(elapsed / INBOUND_WINDOW_MS) + 2) * INBOUND_BYTES_PER_WINDOW);
    for (const r of [ra, rb]) r.ws.close();
  });

  it("never takes from a node more than its own budget allows in the time a flood takes, across destinations", async () => {
    const sender = await register();
    const rs = await openRelay(sender);
    const destinations = [await publicNode(), await publicNode(), await publicNode(), await publicNode()];
    const relays = await Promise.all(destinations.map(openRelay));
    const { arrived, elapsed } = await flood(rs, destinations, relays);
    expect(arrived).toBeLessThanOrEqual(SENDER_BYTES_PER_SECOND * (1 + elapsed / 1000));
    for (const r of [rs, ...relays]) r.ws.close();
  });
});

/**
 * Sends 128 messages of 240 KB as fast as the socket takes them (30 MB), each with eight 30 KB frames
 * shared out among the destinations, then waits until nothing more arrives for half a second (a
 * later arrival would only be more to count). Returns the bytes that arrived, as the relay counts
 * them, and the time taken.
 */
async function flood(sender: Relay, destinations: Registered[], receivers: Relay[]) {
  const frame = new Uint8Array(30_000);
  frame.set(sealed(""));
  const message = Array.from({ length: 8 }, (_, i) => ({ node: destinations[i % destinations.length]!.nodeId, frame }));
  const start = performance.now();
  for (let i = 0; i < 128; i++) sender.send(message);
  const count = () => receivers.reduce((n, r) => n + r.messages.reduce((m, frames) => m + frames.reduce((k, f) => k + 6 + f.frame.length, 0), 0), 0);
  let [arrived, lastAt] = [0, performance.now()];
  while (performance.now() - lastAt < 500) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (count() !== arrived) [arrived, lastAt] = [count(), performance.now()];
  }
  const elapsed = lastAt - start;
  console.log(`relay flood to ${destinations.length}: ${arrived} of ${128 * message.length * 30_006} bytes arrived in ${elapsed.toFixed(0)} ms`);
  return { arrived, elapsed };
}
