/** The Trust seed's flows through the API, and the rules around them. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { formatAddress, type HandshakeReply, type PendingHandshake, type TrustedPeer } from "@pilot/protocol";
import { asPerson, awaitFreshRateWindow, call, createNetwork, errorOf, join, openNodeChannel, register, signUp, type Registered } from "./helpers.ts";

const handshake = (from: Registered, target: string | number, justification = "want to collaborate on data analysis") =>
  call("/v1/handshakes", { body: { target: String(target), justification }, token: from.token });
const pending = async (n: Registered) => ((await (await call("/v1/handshakes/pending", { token: n.token })).json()) as { pending: PendingHandshake[] }).pending;
const trusted = async (n: Registered) => ((await (await call("/v1/trust", { token: n.token })).json()) as { trusted: TrustedPeer[] }).trusted;
const approve = (n: Registered, from: number) => call(`/v1/handshakes/${from}/approve`, { method: "POST", token: n.token });
const reject = (n: Registered, from: number, reason?: string) =>
  call(`/v1/handshakes/${from}/reject`, { body: reason === undefined ? {} : { reason }, token: n.token });
const resolve = (n: Registered, target: number) => call(`/v1/resolve/${target}`, { token: n.token });
const named = async (hostname: string) => {
  const n = await register();
  await call("/v1/nodes/self", { method: "PATCH", body: { hostname }, token: n.token });
  return n;
};

describe("the seed's flows", () => {
  it("request → pending → approve → trust on both sides, and resolve works", async () => {
    const a = await register();
    const b = await named(`agent-b-${crypto.randomUUID().slice(0, 6)}`);
    const hostname = ((await (await call("/v1/nodes/self", { token: b.token })).json()) as { hostname: string }).hostname;
    expect((await resolve(a, b.nodeId)).status).toBe(404);

    const reply = (await (await handshake(a, hostname)).json()) as HandshakeReply;
    expect(reply).toEqual({ status: "sent" });
    const waiting = await pending(b);
    expect(waiting).toEqual([expect.objectContaining({ node_id: a.nodeId, justification: "want to collaborate on data analysis" })]);
    expect(Date.parse(waiting[0]!.expires_at) - Date.parse(waiting[0]!.received_at)).toBe(7 * 86_400_000);

    expect(await (await approve(b, a.nodeId)).json()).toEqual({ status: "approved", node_id: a.nodeId, expires_at: null });
    expect(await trusted(a)).toEqual([expect.objectContaining({ node_id: b.nodeId, mutual: false, network: 0 })]);
    expect(await trusted(b)).toEqual([expect.objectContaining({ node_id: a.nodeId, mutual: false, network: 0 })]);
    expect(await pending(b)).toEqual([]);
    expect((await resolve(a, b.nodeId)).status).toBe(200);
    expect((await resolve(b, a.nodeId)).status).toBe(200);
  });

  it("reject with a reason, which reaches the requester; no trust results", async () => {
    const a = await register();
    const b = await register();
    const inbox = await openNodeChannel(a);
    await inbox.next("hello");
    await handshake(a, b.nodeId);
    expect(await (await reject(b, a.nodeId, "not this quarter")).json()).toEqual({ status: "rejected", node_id: a.nodeId });
    expect(await inbox.next("handshake_rejected")).toMatchObject({ target: String(b.nodeId), node_id: b.nodeId, reason: "not this quarter" });
    expect(await trusted(a)).toEqual([]);
    expect(await pending(b)).toEqual([]);
    expect((await resolve(a, b.nodeId)).status).toBe(404);
    inbox.ws.close();
  });

  it("mutual handshake: crossing requests approve both sides with no manual step", async () => {
    const a = await register();
    const b = await register();
    const bInbox = await openNodeChannel(b);
    await bInbox.next("hello");
    expect(((await (await handshake(a, b.nodeId, "want to connect")).json()) as HandshakeReply).status).toBe("sent");
    const second = (await (await handshake(b, a.nodeId, "want to connect")).json()) as HandshakeReply;
    expect(second).toEqual({ status: "approved", node_id: a.nodeId, mutual: true, expires_at: null });
    expect(await trusted(a)).toEqual([expect.objectContaining({ node_id: b.nodeId, mutual: true })]);
    expect(await trusted(b)).toEqual([expect.objectContaining({ node_id: a.nodeId, mutual: true })]);
    expect(await pending(a)).toEqual([]);
    expect(await pending(b)).toEqual([]);
    bInbox.ws.close();
  });

  it("mutual requests racing each other still end in one mutual trust", async () => {
    const a = await register();
    const b = await register();
    const [x, y] = await Promise.all([handshake(a, b.nodeId), handshake(b, a.nodeId)]);
    // Each side hears "sent" or "approved"; either way the pair exists and both are told.
    for (const r of [x, y]) expect(["sent", "approved"]).toContain(((await r.json()) as HandshakeReply).status);
    expect(await trusted(a)).toEqual([expect.objectContaining({ node_id: b.nodeId, mutual: true })]);
    expect(await trusted(b)).toEqual([expect.objectContaining({ node_id: a.nodeId, mutual: true })]);
    expect(await pending(a)).toEqual([]);
    expect(await pending(b)).toEqual([]);
  });

  it("network auto-approval: co-members are approved at once, with the network set", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];
    await join(a, net.network_id, net.join!.token);
    await join(b, net.network_id, net.join!.token);
    const bInbox = await openNodeChannel(b);
    await bInbox.next("hello");
    const reply = (await (await handshake(a, b.nodeId)).json()) as HandshakeReply;
    expect(reply).toEqual({ status: "approved", node_id: b.nodeId, mutual: false, network: net.network_id, expires_at: null });
    expect(await trusted(b)).toEqual([expect.objectContaining({ node_id: a.nodeId, network: net.network_id })]);
    expect(await bInbox.next("handshake_approved")).toMatchObject({ node_id: a.nodeId, network: net.network_id });
    bInbox.ws.close();
  });

  it.each(["removal", "leaving", "the network's deletion"])("network-vouched trust ends with the membership: after %s, resolve is denied", async (how) => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];
    await join(a, net.network_id, net.join!.token);
    await join(b, net.network_id, net.join!.token);
    expect(((await (await handshake(a, b.nodeId)).json()) as HandshakeReply).status).toBe("approved");
    const aInbox = await openNodeChannel(a);
    await aInbox.next("hello");
    const ended =
      how === "removal"
        ? await asPerson(owner, `/v1/networks/${net.network_id}/members/${a.nodeId}`, { method: "DELETE" })
        : how === "leaving"
          ? await call(`/v1/networks/${net.network_id}/leave`, { body: {}, token: a.token })
          : await asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" });
    expect(ended.status).toBe(204);
    expect((await resolve(a, b.nodeId)).status).toBe(404);
    expect((await resolve(b, a.nodeId)).status).toBe(404);
    expect(await trusted(a)).toEqual([]);
    expect(await aInbox.next("trust_revoked")).toMatchObject({ node_id: b.nodeId });
    aInbox.ws.close();
  });

  it("trust that was approved by hand outlives a shared network's deletion", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];
    await handshake(a, b.nodeId);
    await approve(b, a.nodeId);
    await join(a, net.network_id, net.join!.token);
    await join(b, net.network_id, net.join!.token);
    await asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" });
    expect((await resolve(a, b.nodeId)).status).toBe(200);
    expect(await trusted(a)).toEqual([expect.objectContaining({ node_id: b.nodeId, network: 0 })]);
  });

  it("untrust: the pair is gone at once, the peer is told, and resolve is denied", async () => {
    const a = await register();
    const b = await register();
    await handshake(a, b.nodeId);
    await approve(b, a.nodeId);
    const aInbox = await openNodeChannel(a);
    await aInbox.next("hello");
    await aInbox.next("handshake_approved");
    expect(await (await call(`/v1/trust/${a.nodeId}`, { method: "DELETE", token: b.token })).json()).toEqual({ node_id: a.nodeId, revocation_id: expect.stringMatching(/^rv_/) });
    expect((await resolve(a, b.nodeId)).status).toBe(404);
    expect((await resolve(b, a.nodeId)).status).toBe(404);
    expect(await trusted(a)).toEqual([]);
    expect(await aInbox.next("trust_revoked")).toMatchObject({ node_id: b.nodeId });
    expect(await errorOf(await call(`/v1/trust/${a.nodeId}`, { method: "DELETE", token: b.token }))).toMatchObject({ status: 404, code: "not_trusted" });
    aInbox.ws.close();
  });
});

describe("the rules", () => {
  it("approve and reject act only on a pending request", async () => {
    const a = await register();
    const b = await register();
    expect(await errorOf(await approve(b, a.nodeId))).toMatchObject({ status: 404, code: "no_pending_request" });
    expect(await errorOf(await reject(b, a.nodeId))).toMatchObject({ status: 404, code: "no_pending_request" });
    await handshake(a, b.nodeId);
    // The requester cannot approve its own request from the other side.
    expect(await errorOf(await approve(a, b.nodeId))).toMatchObject({ code: "no_pending_request" });
    expect((await approve(b, a.nodeId)).status).toBe(200);
    expect(await errorOf(await approve(b, a.nodeId))).toMatchObject({ code: "no_pending_request" });
    expect(await trusted(a)).toHaveLength(1);
  });

  it("let exactly one of a racing approve and reject win", async () => {
    for (let round = 0; round < 5; round++) {
      const a = await register();
      const b = await register();
      await handshake(a, b.nodeId);
      const [yes, no] = await Promise.all([approve(b, a.nodeId), reject(b, a.nodeId, "no")]);
      expect([yes.status, no.status].sort()).toEqual([200, 404]);
      expect((await trusted(a)).length).toBe(yes.status === 200 ? 1 : 0);
    }
  });

  it("keep one pending request per sender and target", async () => {
    const a = await register();
    const b = await register();
    await handshake(a, b.nodeId, "first");
    const again = (await (await handshake(a, b.nodeId, "second")).json()) as HandshakeReply;
    expect(again.status).toBe("sent");
    expect(await pending(b)).toEqual([expect.objectContaining({ node_id: a.nodeId, justification: "first" })]);
  });

  it("keep half of a target's list for requesters registered over a day ago, so a flood of fresh nodes cannot hide them", async () => {
    const b = await register();
    const sybils = await Promise.all(Array.from({ length: 60 }, () => register()));
    for (const s of sybils) expect(((await (await handshake(s, b.nodeId, "sybil")).json()) as HandshakeReply).status).toBe("sent");
    expect(await pending(b)).toHaveLength(50);
    const established = await register();
    await env.DB.prepare("UPDATE nodes SET registered_at = ? WHERE id = ?").bind(Date.now() - 2 * 86_400_000, established.nodeId).run();
    await handshake(established, b.nodeId, "a real request");
    expect(await pending(b)).toContainEqual(expect.objectContaining({ node_id: established.nodeId, justification: "a real request" }));
  });

  it("cap the pending requests a target holds", async () => {
    const b = await register();
    const senders = await Promise.all(Array.from({ length: 101 }, () => register()));
    await env.DB.prepare(`UPDATE nodes SET registered_at = ? WHERE id IN (${senders.map((s) => s.nodeId).join(",")})`).bind(Date.now() - 2 * 86_400_000).run();
    await env.DB.batch(
      senders.slice(0, 100).map((s) =>
        env.DB.prepare("INSERT INTO handshake_requests (from_node, to_node, target_name, justification, created_at, expires_at) VALUES (?, ?, ?, 'x', ?, ?)")
          .bind(s.nodeId, b.nodeId, String(b.nodeId), Date.now(), Date.now() + 86_400_000),
      ),
    );
    const last = senders[100]!;
    expect(((await (await handshake(last, b.nodeId)).json()) as HandshakeReply).status).toBe("sent");
    const list = await pending(b);
    expect(list).toHaveLength(100);
    expect(list.some((p) => p.node_id === last.nodeId)).toBe(false);
  });

  it("let requests expire after 7 days, and a new one replaces an expired one", async () => {
    const a = await register();
    const b = await register();
    await handshake(a, b.nodeId, "old");
    await env.DB.prepare("UPDATE handshake_requests SET expires_at = ? WHERE from_node = ?").bind(Date.now() - 1, a.nodeId).run();
    expect(await pending(b)).toEqual([]);
    expect(await errorOf(await approve(b, a.nodeId))).toMatchObject({ code: "no_pending_request" });
    // A new request replaces the expired one.
    await handshake(a, b.nodeId, "new");
    expect(await pending(b)).toEqual([expect.objectContaining({ node_id: a.nodeId, justification: "new" })]);
    // An expired request does not make a crossing one mutual.
    await env.DB.prepare("UPDATE handshake_requests SET expires_at = ? WHERE from_node = ?").bind(Date.now() - 1, a.nodeId).run();
    expect(((await (await handshake(b, a.nodeId)).json()) as HandshakeReply).status).toBe("sent");
    expect(await trusted(a)).toEqual([]);
  });

  it("answer a request to a nonexistent node exactly like one to an existing private node", async () => {
    const a = await register();
    const b = await named(`private-${crypto.randomUUID().slice(0, 6)}`);
    const b_name = ((await (await call("/v1/nodes/self", { token: b.token })).json()) as { hostname: string }).hostname;
    const toPrivate = await handshake(a, b_name);
    const toNobody = await handshake(a, `nobody-${crypto.randomUUID().slice(0, 6)}`);
    expect(toPrivate.status).toBe(toNobody.status);
    expect(await toPrivate.text()).toBe(await toNobody.text());
    const byId = await handshake(a, b.nodeId);
    const byMissingId = await handshake(a, 4_000_000_001);
    expect(((await byId.json()) as HandshakeReply).status).toBe("sent");
    expect(((await byMissingId.json()) as HandshakeReply).status).toBe("sent");
  });

  it("reveal a target named by hostname only once it approves", async () => {
    const a = await register();
    const name = `hidden-${crypto.randomUUID().slice(0, 6)}`;
    const b = await named(name);
    const inbox = await openNodeChannel(a);
    await inbox.next("hello");
    const reply = (await (await handshake(a, name)).json()) as HandshakeReply;
    expect(reply.node_id).toBeUndefined();
    await reject(b, a.nodeId, "no");
    const rejected = await inbox.next("handshake_rejected");
    expect(rejected).toEqual({ type: "handshake_rejected", seq: expect.any(Number), target: name, reason: "no" });
    await handshake(a, name);
    await approve(b, a.nodeId);
    expect(await inbox.next("handshake_approved")).toMatchObject({ node_id: b.nodeId, target: name });
    inbox.ws.close();
  });

  it("rate-limit requests per sender", { timeout: 30_000 }, async () => {
    await awaitFreshRateWindow();
    const a = await register();
    const targets = await Promise.all(Array.from({ length: 31 }, () => register()));
    const statuses = [];
    for (const t of targets) statuses.push((await handshake(a, t.nodeId)).status);
    expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
    expect(statuses[30]).toBe(429);
  });

  it("refuse a request to oneself, by ID, address or hostname (422: beyond the schema)", async () => {
    const a = await named(`me-${crypto.randomUUID().slice(0, 6)}`);
    const me = ((await (await call("/v1/nodes/self", { token: a.token })).json()) as { hostname: string }).hostname;
    for (const target of [String(a.nodeId), formatAddress({ network: 0, node: a.nodeId }), me]) {
      expect(await errorOf(await handshake(a, target))).toMatchObject({ status: 422, code: "invalid_target" });
    }
  });

  it("forget a deregistered node's requests and trust", async () => {
    const a = await register();
    const b = await register();
    const c = await register();
    await handshake(a, b.nodeId);
    await handshake(c, a.nodeId);
    await approve(a, c.nodeId);
    await call("/v1/nodes/self", { method: "DELETE", token: a.token });
    expect(await pending(b)).toEqual([]);
    expect(await trusted(c)).toEqual([]);
  });
});

describe("bad input", () => {
  it.each([
    ["no justification", { target: "1" }],
    ["an empty justification", { target: "1", justification: "   " }],
    ["a justification over 1,024 characters", { target: "1", justification: "x".repeat(1025) }],
    ["no target", { justification: "hi" }],
    ["a numeric target", { target: 5, justification: "hi" }],
    ["an unknown field", { target: "1", justification: "hi", urgent: true }],
  ])("refuse a request with %s", async (_, body) => {
    const a = await register();
    expect(await errorOf(await call("/v1/handshakes", { body, token: a.token }))).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it.each([["Upper"], ["a b"], ["0"], ["0:0000.0000.0000"], ["0:0000.FFFF.FFFF"], ["4294967295"], ["00"], ["65536:10000.0000.0001"]])("refuse the target %j", async (target) => {
    const a = await register();
    expect(await errorOf(await call("/v1/handshakes", { body: { target, justification: "hi" }, token: a.token }))).toMatchObject({
      status: 400,
      code: "invalid_target",
    });
  });

  it("refuse an address whose hex network is not its decimal one with 422: the schema cannot state it", async () => {
    const a = await register();
    expect(await errorOf(await call("/v1/handshakes", { body: { target: "1:00A3.F291.0004", justification: "hi" }, token: a.token }))).toMatchObject({
      status: 422,
      code: "invalid_target",
    });
  });

  it("refuse bad node IDs and reasons, and unauthenticated calls", async () => {
    const a = await register();
    for (const id of ["0", "abc", "-1", "99999999999"]) {
      expect((await call(`/v1/handshakes/${id}/approve`, { method: "POST", token: a.token })).status).toBe(400);
      expect((await call(`/v1/trust/${id}`, { method: "DELETE", token: a.token })).status).toBe(400);
    }
    expect((await reject(a, 5, "x".repeat(1025))).status).toBe(400);
    expect((await call("/v1/handshakes/5/reject", { body: { reason: 5 }, token: a.token })).status).toBe(400);
    for (const path of ["/v1/handshakes/pending", "/v1/trust"]) expect((await call(path)).status).toBe(401);
    expect((await call("/v1/handshakes", { body: { target: "1", justification: "hi" } })).status).toBe(401);
  });
});
