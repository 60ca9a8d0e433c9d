/**
 * A node moving to a new identity key (POST /v1/nodes/self/key): it keeps its node ID and every
 * relation, its old tokens and key stop working, the nodes related to it hear of the new key, and
 * every malformed, forged, replayed or conflicting request is refused with a stable code and
 * changes nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { keyRotationMessage, parseCertificate, type RotateKeyResponse, type SelfNode } from "@pilot/protocol";
import {
  addMember,
  asPerson,
  awaitFreshRateWindow,
  call,
  challengeFor,
  createNetwork,
  enrolledNode,
  errorOf,
  makeIdentity,
  openChannel,
  openNodeChannel,
  ORIGIN,
  proof,
  register,
  signUp,
  type Identity,
  type Registered,
} from "./helpers.ts";

interface Rotation {
  public_key: string;
  challenge: string;
  signature: string;
  previous_signature: string;
}

/** A rotation request of `n` to `next`, made as a daemon makes it; `statement` changes what is signed. */
async function rotation(n: Registered, next: Identity, statement: { origin?: string; nodeId?: number; challenge?: string } = {}): Promise<Rotation> {
  const challenge = statement.challenge ?? (await challengeFor(next));
  const message = keyRotationMessage(statement.origin ?? ORIGIN, statement.nodeId ?? n.nodeId, n.publicKey, next.publicKey, challenge);
  return { public_key: next.publicKey, challenge, signature: await next.sign(message), previous_signature: await n.sign(message) };
}

const rotate = (n: Registered, body: unknown, token = n.token) => call("/v1/nodes/self/key", { body, token, ip: n.ip });

const self = async (token: string) => (await (await call("/v1/nodes/self", { token })).json()) as SelfNode;

/** Two nodes that trust each other through a handshake. */
async function trustingPair(): Promise<[Registered, Registered]> {
  const [a, b] = [await register(), await register()];
  await call("/v1/handshakes", { body: { target: String(b.nodeId), justification: "rotation test" }, token: a.token });
  expect((await call(`/v1/handshakes/${a.nodeId}/approve`, { method: "POST", token: b.token })).status).toBe(200);
  return [a, b];
}

/** Rotates `n` to a fresh key and returns it as the node now is, with its new token. */
async function rotated(n: Registered): Promise<{ node: Registered; reply: RotateKeyResponse }> {
  const next = await makeIdentity();
  const res = await rotate(n, await rotation(n, next));
  expect(res.status).toBe(200);
  const reply = (await res.json()) as RotateKeyResponse;
  return { node: { ...next, ip: n.ip, nodeId: n.nodeId, token: reply.token.access_token }, reply };
}

describe("rotating a node's key", () => {
  it("keeps the node, its hostname and its trust, and ends the old key's tokens", async () => {
    const [a, b] = await trustingPair();
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `rot-${a.nodeId}` }, token: a.token });
    const { node, reply } = await rotated(a);
    expect(reply.node).toMatchObject({ node_id: a.nodeId, public_key: node.publicKey, hostname: `rot-${a.nodeId}` });
    expect(Date.parse(reply.rotated_at)).toBeLessThanOrEqual(Date.now());
    // Tokens from before are dead; the one in the answer works.
    expect(await errorOf(await call("/v1/nodes/self", { token: a.token }))).toMatchObject({ status: 401, code: "token_revoked" });
    expect(await self(node.token)).toMatchObject({ node_id: a.nodeId, public_key: node.publicKey });
    // The old key gets no token; the new one does.
    expect(await errorOf(await call("/v1/auth/token", { body: await proof(a, "token"), ip: a.ip }))).toMatchObject({ status: 401, code: "node_not_registered" });
    expect((await call("/v1/auth/token", { body: await proof(node, "token"), ip: a.ip })).status).toBe(200);
    // The trusted peer resolves the same node with its new key, and the trust stands.
    const seen = (await (await call(`/v1/resolve/${a.nodeId}`, { token: b.token })).json()) as { public_key: string };
    expect(seen.public_key).toBe(node.publicKey);
    const trust = (await (await call("/v1/trust", { token: node.token })).json()) as { trusted: { node_id: number }[] };
    expect(trust.trusted.map((t) => t.node_id)).toEqual([b.nodeId]);
    // New certificates name the new key.
    const cert = (await (await call("/v1/nodes/self/certificate", { method: "POST", token: node.token })).json()) as { certificate: string };
    const parsed = parseCertificate(Uint8Array.from(atob(cert.certificate), (ch) => ch.charCodeAt(0)))!;
    expect(btoa(String.fromCharCode(...parsed.publicKey))).toBe(node.publicKey);
  });

  it("tells trusted peers and co-members, not strangers, and closes the node's own channels", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [a, member] = [await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, member]) expect(await (await addMember(owner, net.network_id, n.nodeId)).json()).toMatchObject({ result: "added" });
    const trusted = await register();
    await call("/v1/handshakes", { body: { target: String(a.nodeId), justification: "rotation test" }, token: trusted.token });
    expect((await call(`/v1/handshakes/${trusted.nodeId}/approve`, { method: "POST", token: a.token })).status).toBe(200);
    const stranger = await register();
    const [memberInbox, trustedInbox, strangerInbox, ownChannel] = [await openNodeChannel(member), await openNodeChannel(trusted), await openNodeChannel(stranger), await openNodeChannel(a)];
    const ownNetwork = await openChannel(a, net.network_id);
    for (const c of [memberInbox, trustedInbox, strangerInbox, ownChannel]) await c.next("hello");

    const { node, reply } = await rotated(a);
    const expected = { type: "key_rotated", node_id: a.nodeId, public_key: node.publicKey, rotated_at: reply.rotated_at };
    expect(await memberInbox.next("key_rotated")).toMatchObject(expected);
    expect(await trustedInbox.next("key_rotated")).toMatchObject(expected);
    // The node's own channels were opened with a token that is revoked now.
    expect(await ownChannel.waitClosed()).toMatchObject({ code: 4005 });
    expect(await ownNetwork.waitClosed()).toMatchObject({ code: 4005 });
    // A stranger hears nothing: anything queued for it went out before the answer, so before the
    // pong to a ping sent now.
    let ponged = false;
    strangerInbox.ws.addEventListener("message", (e) => (ponged ||= e.data === "pong"));
    strangerInbox.ws.send("ping");
    await strangerInbox.until(() => ponged, () => "the pong");
    expect(strangerInbox.events).toEqual([]);
    // The network's log says so.
    const log = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).json()) as { entries: { action: string; target_node_id: number; actor: object }[] };
    expect(log.entries[0]).toMatchObject({ action: "key_rotated", target_node_id: a.nodeId, actor: { type: "node", id: a.nodeId } });
    for (const c of [memberInbox, trustedInbox, strangerInbox]) c.ws.close();
  });
});

describe("a rotation that is refused changes nothing", () => {
  /** `n` is unchanged: its token works and it holds its key. */
  async function unchanged(n: Registered) {
    expect(await self(n.token)).toMatchObject({ node_id: n.nodeId, public_key: n.publicKey });
  }

  it.each([
    ["a key of 31 bytes", async (body: Rotation) => ({ ...body, public_key: btoa("k".repeat(31)) }), 400, "invalid_request"],
    ["a key of 33 bytes", async (body: Rotation) => ({ ...body, public_key: btoa("k".repeat(33)) }), 400, "invalid_request"],
    ["a signature of 63 bytes", async (body: Rotation) => ({ ...body, signature: btoa("s".repeat(63)) }), 400, "invalid_request"],
    ["a field too many", async (body: Rotation) => ({ ...body, node_id: 7 }), 400, "invalid_request"],
    ["no previous signature", async (body: Rotation) => ({ ...body, previous_signature: undefined }), 400, "invalid_request"],
    // The identity point: signatures "by" a small-order key can be forged without a private key.
    ["a key that is not a usable point", async (body: Rotation) => ({ ...body, public_key: btoa(String.fromCharCode(1, ...new Array(31).fill(0))) }), 422, "invalid_public_key"],
    ["the new key's signature made by another key", async (body: Rotation) => ({ ...body, signature: body.previous_signature }), 401, "signature_invalid"],
    ["the current key's signature made by another key", async (body: Rotation) => ({ ...body, previous_signature: body.signature }), 401, "signature_invalid"],
  ] as const)("%s", async (_what, spoil, status, code) => {
    const n = await register();
    const res = await rotate(n, await spoil(await rotation(n, await makeIdentity())));
    expect(await errorOf(res)).toMatchObject({ status, code });
    await unchanged(n);
  });

  it("refuses a statement signed for another node, another registry or another challenge", async () => {
    const n = await register();
    const other = await register();
    const next = await makeIdentity();
    const challenge = await challengeFor(next);
    for (const statement of [{ nodeId: other.nodeId }, { origin: "https://rogue.example" }, { challenge: await challengeFor(next) }]) {
      const body = { ...(await rotation(n, next, statement)), challenge };
      expect(await errorOf(await rotate(n, body))).toMatchObject({ status: 401, code: "signature_invalid" });
    }
    await unchanged(n);
    // None of them spent the challenge.
    expect((await rotate(n, await rotation(n, next, { challenge }))).status).toBe(200);
  });

  it("refuses a challenge issued for another key, and one expired", async () => {
    const n = await register();
    const next = await makeIdentity();
    const foreign = await rotation(n, next, { challenge: await challengeFor(await makeIdentity()) });
    expect(await errorOf(await rotate(n, foreign))).toMatchObject({ status: 401, code: "challenge_invalid" });
    const late = await rotation(n, next);
    await env.DB.prepare("UPDATE challenges SET expires_at = ? WHERE nonce = ?").bind(Date.now() - 1, late.challenge).run();
    expect(await errorOf(await rotate(n, late))).toMatchObject({ status: 401, code: "challenge_expired" });
    await unchanged(n);
  });

  it("refuses a replayed rotation, with the old token and with a fresh one", async () => {
    const n = await register();
    const next = await makeIdentity();
    const first = await rotation(n, next);
    expect((await rotate(n, first)).status).toBe(200);
    // With the token it was sent with: that token is revoked.
    expect(await errorOf(await rotate(n, first))).toMatchObject({ status: 401, code: "token_revoked" });
    // The node moves back to its first key, so the first statement names its current key again.
    const moved: Registered = { ...next, ip: n.ip, nodeId: n.nodeId, token: "" };
    const back = await rotate(moved, await rotation(moved, n), await tokenFor(next, n.ip));
    expect(back.status).toBe(200);
    const token = ((await back.json()) as RotateKeyResponse).token.access_token;
    // Both signatures of the first request still verify, and the new key is free: only the spent challenge stops it.
    expect(await errorOf(await rotate(n, first, token))).toMatchObject({ status: 401, code: "challenge_invalid" });
    expect(await self(token)).toMatchObject({ node_id: n.nodeId, public_key: n.publicKey });
  });

  it("refuses a key another node holds, registered or deregistered, and the node's own", async () => {
    const n = await register();
    const holder = await register();
    expect(await errorOf(await rotate(n, await rotation(n, holder)))).toMatchObject({ status: 409, code: "public_key_taken" });
    expect((await call("/v1/nodes/self", { method: "DELETE", token: holder.token })).status).toBe(204);
    expect(await errorOf(await rotate(n, await rotation(n, holder)))).toMatchObject({ status: 409, code: "public_key_taken" });
    expect(await errorOf(await rotate(n, await rotation(n, n)))).toMatchObject({ status: 409, code: "public_key_taken" });
    await unchanged(n);
    // The key another node deregistered with still brings that node back.
    const back = (await (await call("/v1/nodes", { body: await proof(holder, "register"), ip: holder.ip })).json()) as { node: SelfNode };
    expect(back.node.node_id).toBe(holder.nodeId);
  });

  it("refuses a deregistered node", async () => {
    const n = await register();
    const body = await rotation(n, await makeIdentity());
    expect((await call("/v1/nodes/self", { method: "DELETE", token: n.token })).status).toBe(204);
    expect(await errorOf(await rotate(n, body))).toMatchObject({ status: 401, code: "token_revoked" });
    // Registering again with the key gets the same node, still with that key.
    const back = (await (await call("/v1/nodes", { body: await proof(n, "register"), ip: n.ip })).json()) as { node: SelfNode };
    expect(back.node).toMatchObject({ node_id: n.nodeId, public_key: n.publicKey });
  });

  it("refuses a node that already rotated five times this minute", async () => {
    await awaitFreshRateWindow();
    let n = await register();
    for (let i = 0; i < 5; i++) n = (await rotated(n)).node;
    expect(await errorOf(await rotate(n, await rotation(n, await makeIdentity())))).toMatchObject({ status: 429, code: "rate_limited" });
    await unchanged(n);
  });
});

async function tokenFor(id: Identity, ip: string): Promise<string> {
  const res = await call("/v1/auth/token", { body: await proof(id, "token"), ip });
  return ((await res.json()) as { access_token: string }).access_token;
}
