/**
 * Time-boxed trust in the registry: the shorter TTL wins, an ended pair grants nothing from its
 * end (before any sweep), and the sweep tells both nodes. Time does not pass in these tests: a
 * pair's end is moved into the past in D1, which is what the passing of time does to it.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { HandshakeReply, TrustedPeer } from "@pilot/protocol";
import { MAX_TRUST_TTL_SECONDS } from "@pilot/protocol";
import { database } from "../worker/db/client.ts";
import { nodeHub } from "../worker/nodes/hub.ts";
import { sweepExpiredTrust } from "../worker/trust/pairs.ts";
import { call, createNetwork, errorOf, join, openNodeChannel, register, signUp, type Registered } from "./helpers.ts";

const HOUR = 3600;
const handshake = (from: Registered, to: Registered, ttl?: unknown) =>
  call("/v1/handshakes", { body: { target: String(to.nodeId), justification: "a day's work", ...(ttl === undefined ? {} : { ttl_seconds: ttl }) }, token: from.token });
const approve = (n: Registered, from: Registered, ttl?: unknown) =>
  call(`/v1/handshakes/${from.nodeId}/approve`, { method: "POST", token: n.token, ...(ttl === undefined ? {} : { body: { ttl_seconds: ttl } }) });
const trusted = async (n: Registered) => ((await (await call("/v1/trust", { token: n.token })).json()) as { trusted: TrustedPeer[] }).trusted;
const resolve = (n: Registered, target: Registered) => call(`/v1/resolve/${target.nodeId}`, { token: n.token });
const pendingCount = async (n: Registered) => ((await (await call("/v1/handshakes/pending", { token: n.token })).json()) as { pending: unknown[] }).pending.length;

/** How long the pair between the two lasts, in seconds, as both see it (null: without end). */
async function lifetime(a: Registered, b: Registered): Promise<number | null> {
  const [mine, theirs] = [(await trusted(a))[0]!, (await trusted(b))[0]!];
  expect(mine.expires_at).toBe(theirs.expires_at);
  return mine.expires_at === null ? null : (Date.parse(mine.expires_at) - Date.parse(mine.approved_at)) / 1000;
}

/** Moves the pair's end into the past: what time does to it. */
const endNow = (a: Registered, b: Registered) =>
  env.DB.prepare("UPDATE trust_pairs SET expires_at = ? WHERE node_a = ? AND node_b = ?")
    .bind(Date.now() - 1, Math.min(a.nodeId, b.nodeId), Math.max(a.nodeId, b.nodeId))
    .run();
const pairRows = async (a: Registered, b: Registered) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM trust_pairs WHERE node_a = ? AND node_b = ?").bind(Math.min(a.nodeId, b.nodeId), Math.max(a.nodeId, b.nodeId)).first<{ n: number }>())!.n;

async function approvedWith(requestTtl: number | undefined, approveTtl: number | undefined): Promise<[Registered, Registered, Response]> {
  const [a, b] = [await register(), await register()];
  expect((await handshake(a, b, requestTtl)).status).toBe(200);
  return [a, b, await approve(b, a, approveTtl)];
}

describe("the TTL of trust", () => {
  it.each([
    [2 * HOUR, HOUR, HOUR],
    [HOUR, 2 * HOUR, HOUR],
    [HOUR, undefined, HOUR],
    [undefined, HOUR, HOUR],
    [undefined, undefined, null],
  ])("request %j, approval %j: the trust lasts %j seconds on both sides", async (requested, granted, lasts) => {
    const [a, b, approved] = await approvedWith(requested, granted);
    expect(approved.status).toBe(200);
    const decision = (await approved.json()) as { expires_at: string | null };
    expect(await lifetime(a, b)).toBe(lasts);
    expect(decision.expires_at).toBe((await trusted(a))[0]!.expires_at);
  });

  it("shows the target the TTL the requester asked for, in its pending list and on its channel", async () => {
    const [a, b, c] = [await register(), await register(), await register()];
    const inbox = await openNodeChannel(b);
    await inbox.next("hello");
    await handshake(a, b, HOUR);
    expect(await inbox.next("handshake_request")).toMatchObject({ node_id: a.nodeId, ttl_seconds: HOUR });
    await handshake(c, b);
    expect(await inbox.next("handshake_request")).toMatchObject({ node_id: c.nodeId, ttl_seconds: null });
    const pending = ((await (await call("/v1/handshakes/pending", { token: b.token })).json()) as { pending: { node_id: number; ttl_seconds: number | null }[] }).pending;
    expect(pending.map((p) => [p.node_id, p.ttl_seconds])).toEqual([
      [a.nodeId, HOUR],
      [c.nodeId, null],
    ]);
    inbox.ws.close();
  });

  it("tells the requester when its trust ends", async () => {
    const [a, b] = [await register(), await register()];
    const inbox = await openNodeChannel(a);
    await inbox.next("hello");
    await handshake(a, b, 2 * HOUR);
    const decision = (await (await approve(b, a, HOUR)).json()) as { expires_at: string };
    expect(await inbox.next("handshake_approved")).toMatchObject({ node_id: b.nodeId, expires_at: decision.expires_at });
    inbox.ws.close();
  });

  it.each([
    [HOUR, 2 * HOUR],
    [2 * HOUR, HOUR],
    [undefined, HOUR],
    [HOUR, undefined],
  ])("crossing requests (%j then %j) last for the shorter of the two", async (first, second) => {
    const [a, b] = [await register(), await register()];
    expect(((await (await handshake(a, b, first)).json()) as HandshakeReply).status).toBe("sent");
    const reply = (await (await handshake(b, a, second)).json()) as HandshakeReply;
    expect(reply).toMatchObject({ status: "approved", mutual: true });
    expect(await lifetime(a, b)).toBe(HOUR);
    expect(reply.expires_at).toBe((await trusted(a))[0]!.expires_at);
  });

  it("a request a shared network approves lasts as long as the request asked", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];
    await join(a, net.network_id, net.join!.token);
    await join(b, net.network_id, net.join!.token);
    expect(((await (await handshake(a, b, HOUR)).json()) as HandshakeReply).status).toBe("approved");
    expect(await lifetime(a, b)).toBe(HOUR);
  });

  it("asking again while trusted says when the trust ends, and changes nothing", async () => {
    const [a, b] = await approvedWith(HOUR, undefined);
    const before = (await trusted(a))[0]!.expires_at;
    expect(await (await handshake(a, b, 5 * HOUR)).json()).toMatchObject({ status: "trusted", expires_at: before });
    expect((await trusted(a))[0]!.expires_at).toBe(before);
  });
});

describe("trust at its end", () => {
  it("is denied at once, by every gate, before any sweep", async () => {
    const [a, b] = await approvedWith(HOUR, undefined);
    expect((await resolve(a, b)).status).toBe(200);
    await endNow(a, b);
    expect(await pairRows(a, b)).toBe(1);
    expect((await resolve(a, b)).status).toBe(404);
    expect((await resolve(b, a)).status).toBe(404);
    expect(await trusted(a)).toEqual([]);
    expect(await trusted(b)).toEqual([]);
    expect((await call(`/v1/paths/${b.nodeId}`, { body: {}, token: a.token })).status).toBe(404);
    expect(await errorOf(await call(`/v1/trust/${b.nodeId}`, { method: "DELETE", token: a.token }))).toMatchObject({ status: 404, code: "not_trusted" });
  });

  it("can be asked for again: a new approval replaces the ended pair", async () => {
    const [a, b] = await approvedWith(HOUR, undefined);
    await endNow(a, b);
    expect(((await (await handshake(a, b, 2 * HOUR)).json()) as HandshakeReply).status).toBe("sent");
    expect((await approve(b, a)).status).toBe(200);
    expect(await lifetime(a, b)).toBe(2 * HOUR);
    expect((await resolve(a, b)).status).toBe(200);
  });

  it("is swept by the smaller node's alarm, which tells both nodes and sets itself for the next end", async () => {
    const [a, b] = await approvedWith(HOUR, undefined);
    const [small, large] = a.nodeId < b.nodeId ? [a, b] : [b, a];
    const hub = nodeHub(env, small.nodeId);
    // The alarm is set once the approval's answer has gone.
    await expect.poll(() => runInDurableObject(hub, (_o, state) => state.storage.getAlarm())).not.toBeNull();
    const [inboxA, inboxB] = [await openNodeChannel(a), await openNodeChannel(b)];
    await inboxA.next("hello");
    await inboxB.next("hello");
    await endNow(a, b);
    expect(await runDurableObjectAlarm(hub)).toBe(true);
    expect(await inboxA.next("trust_revoked")).toMatchObject({ node_id: b.nodeId, reason: "expired" });
    expect(await inboxB.next("trust_revoked")).toMatchObject({ node_id: a.nodeId, reason: "expired" });
    expect(await pairRows(a, b)).toBe(0);
    expect(large.nodeId).toBeGreaterThan(small.nodeId);
    inboxA.ws.close();
    inboxB.ws.close();
  });

  it("is swept by the hourly cron when no alarm did, telling both nodes; pairs without end stay", async () => {
    const [a, b] = await approvedWith(HOUR, undefined);
    const [c, d] = await approvedWith(undefined, undefined);
    const inboxB = await openNodeChannel(b);
    await inboxB.next("hello");
    await endNow(a, b);
    expect(await sweepExpiredTrust(env, database(env), Date.now())).toBeGreaterThanOrEqual(1);
    expect(await inboxB.next("trust_revoked")).toMatchObject({ node_id: a.nodeId, reason: "expired" });
    expect(await pairRows(a, b)).toBe(0);
    expect(await pairRows(c, d)).toBe(1);
    inboxB.ws.close();
  });
});

describe("bad TTLs", () => {
  // The registry's minimum is its setting, beyond the published schema: 422.
  const BAD: [unknown, number, string][] = [
    [0, 400, "invalid_request"],
    [-60, 400, "invalid_request"],
    [90.5, 400, "invalid_request"],
    ["3600", 400, "invalid_request"],
    [MAX_TRUST_TTL_SECONDS + 1, 400, "invalid_request"],
    [null, 400, "invalid_request"],
    [59, 422, "ttl_too_short"],
  ];

  it.each(BAD)("a request with ttl_seconds %j is refused with %i %s, and nothing is stored", async (ttl, status, code) => {
    const [a, b] = [await register(), await register()];
    expect(await errorOf(await handshake(a, b, ttl))).toMatchObject({ status, code });
    expect(await pendingCount(b)).toBe(0);
  });

  it.each(BAD)("an approval with ttl_seconds %j is refused with %i %s, and the request stays pending", async (ttl, status, code) => {
    const [a, b] = [await register(), await register()];
    await handshake(a, b);
    expect(await errorOf(await approve(b, a, ttl))).toMatchObject({ status, code });
    expect(await pendingCount(b)).toBe(1);
    expect(await trusted(b)).toEqual([]);
  });

  it("a rejection takes no TTL: refused, and the request stays pending", async () => {
    const [a, b] = [await register(), await register()];
    await handshake(a, b);
    const res = await call(`/v1/handshakes/${a.nodeId}/reject`, { body: { reason: "no", ttl_seconds: HOUR }, token: b.token });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await pendingCount(b)).toBe(1);
  });

  it("the longest TTL, a year, is granted", async () => {
    const [a, b, approved] = await approvedWith(MAX_TRUST_TTL_SECONDS, undefined);
    expect(approved.status).toBe(200);
    expect(await lifetime(a, b)).toBe(MAX_TRUST_TTL_SECONDS);
  });
});
