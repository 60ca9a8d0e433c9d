/**
 * Revocation receipts at the registry: a removal or an untrust records who must confirm it, a
 * daemon's signed receipt counts once, and a forged, foreign or misdirected one is refused and
 * changes nothing. Only the network's owner (or, for an untrust, the two nodes) sees how it went.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { keyRotationMessage, revocationReceiptMessage, type PendingCut, type RotateKeyResponse, type ReceiptRequest, type RevocationList, type RevocationSummary } from "@pilot/protocol";
import { database } from "../worker/db/client.ts";
import { newRevocationId, revocationStatements } from "../worker/revocations/record.ts";
import { PENDING_SHOWN } from "../worker/revocations/summaries.ts";
import { addMember, asPerson, call, challengeFor, createNetwork, enrolledNode, errorOf, makeIdentity, ORIGIN, register, signUp, type Person, type Registered } from "./helpers.ts";

const CUT_AT = "2026-01-01T00:00:00.000Z";

/** A receipt as `signer` signs it for `as` (the same node, unless a test forges one). */
async function receipt(signer: { sign: Registered["sign"] }, as: Registered, revocationId: string, peer: number, origin = ORIGIN): Promise<ReceiptRequest> {
  return { peer, cut_at: CUT_AT, signature: await signer.sign(revocationReceiptMessage(origin, revocationId, as.nodeId, peer, CUT_AT)) };
}

const send = (n: Registered, revocationId: string, body: unknown) => call(`/v1/revocations/${revocationId}/receipts`, { body, token: n.token });
const pendingOf = async (n: Registered) => ((await (await call("/v1/nodes/self/revocations", { token: n.token })).json()) as { revocations: PendingCut[] }).revocations;
const revocationsOf = async (owner: Person, networkId: number) =>
  ((await (await asPerson(owner, `/v1/networks/${networkId}/revocations`)).json()) as RevocationList).revocations;

/** A network of three of the owner's nodes, with the third removed by the owner. */
async function removal() {
  const owner = await signUp();
  const net = await createNetwork(owner);
  const [a, b, c] = [await enrolledNode(owner), await enrolledNode(owner), await enrolledNode(owner)];
  for (const n of [a, b, c]) expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
  expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${c.nodeId}`, { method: "DELETE" })).status).toBe(204);
  const [revocation] = await revocationsOf(owner, net.network_id);
  return { owner, networkId: net.network_id, a, b, c, id: revocation!.revocation_id };
}

const snapshot = async (res: Response) => ({ status: res.status, type: res.headers.get("content-type"), body: await res.text() });
const rows = async (table: string) => (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;

describe("a removal expects a receipt from every member at that moment and from the node removed", () => {
  it("records the revocation with the removal, each daemon owes its own cut, and receipts count once", async () => {
    const { owner, networkId, a, b, c, id } = await removal();
    const [summary] = await revocationsOf(owner, networkId);
    expect(summary).toMatchObject({ kind: "removed", node_id: c.nodeId, expected: 3, confirmed: 0, slowest_ms: null });
    expect(summary!.pending).toEqual([a.nodeId, b.nodeId, c.nodeId].sort((x, y) => x - y));
    // The members cut the removed node; the removed node cuts the whole network (peer 0).
    expect(await pendingOf(a)).toEqual([{ revocation_id: id, kind: "removed", network_id: networkId, peer: c.nodeId }]);
    expect(await pendingOf(c)).toEqual([{ revocation_id: id, kind: "removed", network_id: networkId, peer: 0 }]);

    const first = await send(a, id, await receipt(a, a, id, c.nodeId));
    expect(await first.json()).toEqual({ revocation_id: id, result: "recorded" });
    // Sent again (a daemon retrying, or someone replaying it with the node's token): counted once.
    const again = await send(a, id, await receipt(a, a, id, c.nodeId));
    expect(await again.json()).toEqual({ revocation_id: id, result: "already_recorded" });
    expect(await pendingOf(a)).toEqual([]);

    for (const n of [b, c]) await send(n, id, await receipt(n, n, id, n === c ? 0 : c.nodeId));
    const [done] = await revocationsOf(owner, networkId);
    expect(done).toMatchObject({ expected: 3, confirmed: 3, pending: [] });
    expect(done!.slowest_ms).toBeGreaterThanOrEqual(0);
  });

  it("a node that leaves is a revocation too; a deregistered one owes nothing (it has no daemon)", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b]) await addMember(owner, net.network_id, n.nodeId);
    expect((await call(`/v1/networks/${net.network_id}/leave`, { method: "POST", token: b.token })).status).toBe(204);
    expect((await call("/v1/nodes/self", { method: "DELETE", token: a.token })).status).toBe(204);
    const [deregistered, left] = await revocationsOf(owner, net.network_id);
    expect(left).toMatchObject({ kind: "left", node_id: b.nodeId, expected: 2, pending: [a.nodeId, b.nodeId].sort((x, y) => x - y) });
    expect(deregistered).toMatchObject({ kind: "deregistered", node_id: a.nodeId, expected: 0, pending: [] });
  });
});

describe("receipts that do not count are refused and change nothing", () => {
  it("refuses a signature by another key, over another registry, revocation or peer", async () => {
    const { owner, networkId, b, c, id } = await removal();
    const stranger = await makeIdentity();
    const other = (await removal()).id;
    const forged = [
      await receipt(stranger, b, id, c.nodeId),
      await receipt(b, b, id, c.nodeId, "https://another-registry.example"),
      { ...(await receipt(b, b, other, c.nodeId)) },
      { ...(await receipt(b, b, id, c.nodeId)), peer: b.nodeId },
      { ...(await receipt(b, b, id, c.nodeId)), cut_at: "2026-01-01T00:00:01.000Z" },
      // Another node's real receipt, sent with this node's token.
      await receipt(c, c, id, 0),
    ];
    for (const body of forged) {
      const res = await send(b, id, body);
      expect(await errorOf(res)).toMatchObject({ status: 401, code: "signature_invalid" });
    }
    expect((await revocationsOf(owner, networkId))[0]!.pending).toContain(b.nodeId);
    expect(await pendingOf(b)).toHaveLength(1);
  });

  it("checks the node's current key: after a key rotation, a receipt signed by the old key is refused", async () => {
    const { owner, networkId, a, c, id } = await removal();
    const next = await makeIdentity();
    const challenge = await challengeFor(next);
    const statement = keyRotationMessage(ORIGIN, a.nodeId, a.publicKey, next.publicKey, challenge);
    const rotated = await call("/v1/nodes/self/key", {
      body: { public_key: next.publicKey, challenge, signature: await next.sign(statement), previous_signature: await a.sign(statement) },
      token: a.token,
      ip: a.ip,
    });
    expect(rotated.status).toBe(200);
    const moved = { ...a, ...next, ip: a.ip, token: ((await rotated.json()) as RotateKeyResponse).token.access_token };
    expect(await errorOf(await send(moved, id, await receipt(a, moved, id, c.nodeId)))).toMatchObject({ status: 401, code: "signature_invalid" });
    expect((await revocationsOf(owner, networkId))[0]).toMatchObject({ confirmed: 0 });
    expect(await (await send(moved, id, await receipt(next, moved, id, c.nodeId))).json()).toEqual({ revocation_id: id, result: "recorded" });
  });

  it("answers a foreign node, a wrong peer and a revocation that does not exist alike, and records none", async () => {
    const { owner, networkId, a, c, id } = await removal();
    const outsider = await register();
    const missing = "rv_AAAAAAAAAAAAAAAAAAAAAA";
    const nothing = await snapshot(await send(outsider, missing, await receipt(outsider, outsider, missing, c.nodeId)));
    expect(nothing.status).toBe(404);
    expect(JSON.parse(nothing.body).error.code).toBe("revocation_not_found");
    // Correctly signed by a node the revocation expects nothing of.
    expect(await snapshot(await send(outsider, id, await receipt(outsider, outsider, id, c.nodeId)))).toEqual(nothing);
    // A member of the network, but for a peer it was not asked to cut.
    expect(await snapshot(await send(a, id, await receipt(a, a, id, a.nodeId + 1_000_000)))).toEqual(nothing);
    expect((await revocationsOf(owner, networkId))[0]).toMatchObject({ confirmed: 0 });
    expect(await rows(`revocation_cuts WHERE revocation_id = '${id}' AND received_at IS NOT NULL`)).toBe(0);
  });

  it("refuses malformed receipts with a clear error", async () => {
    const { a, c, id } = await removal();
    const good = await receipt(a, a, id, c.nodeId);
    for (const body of [
      { ...good, peer: -1 },
      { ...good, peer: 2 ** 32 },
      { ...good, peer: 1.5 },
      { ...good, cut_at: "yesterday" },
      { ...good, signature: "not base64" },
      { ...good, extra: true },
      { peer: good.peer, cut_at: good.cut_at },
    ]) {
      expect(await errorOf(await send(a, id, body))).toMatchObject({ status: 400, code: "invalid_request" });
    }
    expect(await errorOf(await send(a, "rv_short", good))).toMatchObject({ status: 400, code: "invalid_request" });
    expect((await call(`/v1/revocations/${id}/receipts`, { body: good })).status).toBe(401);
    expect(await pendingOf(a)).toHaveLength(1);
  });
});

describe("untrust", () => {
  async function trusted() {
    const [a, b] = [await register(), await register()];
    await call("/v1/handshakes", { body: { target: String(b.nodeId), justification: "test" }, token: a.token });
    expect((await call(`/v1/handshakes/${a.nodeId}/approve`, { method: "POST", token: b.token })).status).toBe(200);
    return { a, b };
  }

  it("expects both ends to confirm; the two of them, and nobody else, see how it went", async () => {
    const { a, b } = await trusted();
    const res = await call(`/v1/trust/${b.nodeId}`, { method: "DELETE", token: a.token });
    const { revocation_id: id } = (await res.json()) as { revocation_id: string };
    expect(await pendingOf(b)).toEqual([{ revocation_id: id, kind: "untrust", network_id: null, peer: a.nodeId }]);
    await send(b, id, await receipt(b, b, id, a.nodeId));
    const seen = (await (await call(`/v1/revocations/${id}`, { token: a.token })).json()) as RevocationSummary;
    expect(seen).toMatchObject({ kind: "untrust", node_id: a.nodeId, expected: 2, confirmed: 1, pending: [a.nodeId] });
    const stranger = await register();
    const asStranger = await snapshot(await call(`/v1/revocations/${id}`, { token: stranger.token }));
    expect(asStranger).toEqual(await snapshot(await call("/v1/revocations/rv_AAAAAAAAAAAAAAAAAAAAAA", { token: stranger.token })));
    expect(asStranger.status).toBe(404);
  });

  it("an untrust of a peer not trusted records no revocation", async () => {
    const [a, b] = [await register(), await register()];
    const before = await rows("revocations");
    expect(await errorOf(await call(`/v1/trust/${b.nodeId}`, { method: "DELETE", token: a.token }))).toMatchObject({ status: 404, code: "not_trusted" });
    expect(await rows("revocations")).toBe(before);
  });
});

describe("a change that cuts peers its own way records its revocation with the cuts it expects", () => {
  it("counts every daemon, names the first of those still to confirm, and hands each its own cuts", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const real = await register();
    const id = newRevocationId();
    // A policy change that cut 150 pairs: the real node cuts two peers, 149 others one each.
    const cuts = [
      { nodeId: real.nodeId, peer: 1_000_001 },
      { nodeId: real.nodeId, peer: 1_000_002 },
      ...Array.from({ length: 149 }, (_, i) => ({ nodeId: 2_000_000 + i, peer: real.nodeId })),
    ] as const;
    const db = database(env);
    await db.batch(revocationStatements(db, { id, networkId: net.network_id, kind: "policy", nodeId: real.nodeId, at: Date.now() }, [cuts[0], ...cuts.slice(1)]));
    const [summary] = await revocationsOf(owner, net.network_id);
    expect(summary).toMatchObject({ revocation_id: id, kind: "policy", expected: 150, confirmed: 0, slowest_ms: null });
    expect(summary!.pending).toHaveLength(PENDING_SHOWN);
    expect(summary!.pending).toEqual([real.nodeId, ...Array.from({ length: PENDING_SHOWN - 1 }, (_, i) => 2_000_000 + i)].sort((x, y) => x - y));
    expect((await pendingOf(real)).map((c) => c.peer)).toEqual([1_000_001, 1_000_002]);
    // A daemon is confirmed once every cut asked of it has its receipt.
    await send(real, id, await receipt(real, real, id, 1_000_001));
    expect((await revocationsOf(owner, net.network_id))[0]).toMatchObject({ confirmed: 0 });
    await send(real, id, await receipt(real, real, id, 1_000_002));
    expect((await revocationsOf(owner, net.network_id))[0]).toMatchObject({ confirmed: 1 });
    expect((await revocationsOf(owner, net.network_id))[0]!.pending).not.toContain(real.nodeId);
  });
});

describe("a policy change expects every member to confirm it enforces the new revision", () => {
  const putPolicy = (owner: Person, id: number, body: unknown) => asPerson(owner, `/v1/networks/${id}/policy`, { method: "PUT", body });

  it("records one revocation per change, each member owes peer 0 for the revision it made, and receipts complete it", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const id = net.network_id;
    const [a, b, c] = [await enrolledNode(owner), await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b, c]) expect((await addMember(owner, id, n.nodeId)).status).toBe(200);
    const policy = { self_tagging: true, rules: [{ from: "web", to: "api", ports: [443], protocols: ["stream"] }] };
    const put = await putPolicy(owner, id, policy);
    expect(put.status).toBe(200);
    const { revision } = (await put.json()) as { revision: number };
    const [changed] = await revocationsOf(owner, id);
    expect(changed).toMatchObject({ kind: "policy", node_id: null, expected: 3, confirmed: 0, slowest_ms: null });
    expect(changed!.pending).toEqual([a.nodeId, b.nodeId, c.nodeId].sort((x, y) => x - y));
    const rid = changed!.revocation_id;
    expect(await pendingOf(a)).toEqual([{ revocation_id: rid, kind: "policy", network_id: id, peer: 0, revision }]);

    // A member's tags are the policy's too: the owner's tagging, and a node's own where the network lets it count.
    expect((await asPerson(owner, `/v1/networks/${id}/members/${b.nodeId}/tags`, { method: "PUT", body: { tags: ["api"] } })).status).toBe(200);
    expect((await call("/v1/nodes/self/tags", { method: "PUT", body: { tags: ["web"] }, token: c.token })).status).toBe(200);
    const listed = await revocationsOf(owner, id);
    const tagged = listed.find((r) => r.node_id === b.nodeId);
    expect(tagged).toMatchObject({ kind: "policy", expected: 3 });
    expect(listed.find((r) => r.node_id === c.nodeId)).toMatchObject({ kind: "policy", expected: 3 });
    expect((await pendingOf(a)).map((p) => p.revision).sort()).toEqual([revision, revision + 1, revision + 2]);

    for (const n of [a, b, c]) expect(await (await send(n, rid, await receipt(n, n, rid, 0))).json()).toEqual({ revocation_id: rid, result: "recorded" });
    const done = (await revocationsOf(owner, id)).find((r) => r.revocation_id === rid);
    expect(done).toMatchObject({ expected: 3, confirmed: 3, pending: [] });
    expect(done!.slowest_ms).toBeGreaterThanOrEqual(0);
    // A receipt for a peer the policy change did not name is refused like any misdirected one.
    expect(await errorOf(await send(a, tagged!.revocation_id, await receipt(a, a, tagged!.revocation_id, c.nodeId)))).toMatchObject({ status: 404 });
  });

  it("a network with no members records the change and expects nobody; a refused policy records nothing", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    expect((await putPolicy(owner, net.network_id, { self_tagging: false, rules: [] })).status).toBe(200);
    expect(await revocationsOf(owner, net.network_id)).toMatchObject([{ kind: "policy", node_id: null, expected: 0, confirmed: 0, pending: [] }]);
    const before = await rows("revocations");
    expect((await putPolicy(owner, net.network_id, { self_tagging: false, rules: [{ from: "a", to: "b", ports: [0], protocols: ["stream"] }] })).status).toBe(400);
    expect(await rows("revocations")).toBe(before);
  });
});
