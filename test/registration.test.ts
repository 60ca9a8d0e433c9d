import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { authMessage, decodeBase64, encodeBase64, type RegisterResponse } from "@pilot/protocol";
import { app } from "../worker/app.ts";
import { call, challengeFor, errorOf, freshIp, makeIdentity, ORIGIN, proof, register } from "./helpers.ts";

const registerWith = (body: unknown) => call("/v1/nodes", { body, ip: freshIp() });

describe("challenges", () => {
  it("issues a single-use challenge that expires in a minute", async () => {
    const id = await makeIdentity();
    const res = await call("/v1/auth/challenge", { body: { public_key: id.publicKey }, ip: id.ip });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { challenge: string; expires_at: string };
    expect(body.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ttl = Date.parse(body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it.each([
    ["bad base64", "not base64 at all!!"],
    ["31 bytes", encodeBase64(new Uint8Array(31).fill(7))],
    ["33 bytes", encodeBase64(new Uint8Array(33).fill(7))],
    ["unpadded", encodeBase64(new Uint8Array(32).fill(7)).replace(/=$/, "")],
    ["base64url alphabet", "_".repeat(43) + "="],
    ["a number", 12345],
    ["null", null],
  ])("refuses a public key that is %s", async (_, publicKey) => {
    const res = await call("/v1/auth/challenge", { body: { public_key: publicKey }, ip: "203.0.113.2" });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("refuses a non-canonical spelling of a key (a second name for the same key)", async () => {
    const id = await makeIdentity();
    const bytes = decodeBase64(id.publicKey, 32)!;
    // The last base64 digit carries 4 unused bits; flipping one gives another string for the same bytes.
    const last = id.publicKey.at(-2)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const twin = id.publicKey.slice(0, -2) + alphabet[alphabet.indexOf(last) ^ 1] + "=";
    expect(twin).not.toBe(id.publicKey);
    expect(Uint8Array.from(atob(twin), (c) => c.charCodeAt(0))).toEqual(bytes);
    const res = await call("/v1/auth/challenge", { body: { public_key: twin }, ip: id.ip });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it.each([
    ["the identity point", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    ["a point of order 2", "7P///////////////////////////////////////38="],
    ["a point of order 8", "x/wvoJ/8gB9NkDXDRMgqu0FMT/8VC9ZQtqbsjvhxw3o="],
    ["not a curve point", "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
  ])("refuses %s as a public key, for which signatures can be forged", async (_, publicKey) => {
    expect(decodeBase64(publicKey, 32)).not.toBeNull();
    const res = await call("/v1/auth/challenge", { body: { public_key: publicKey }, ip: "203.0.113.3" });
    // Well-formed by the schema: that a key is a usable point is beyond it.
    expect(await errorOf(res)).toMatchObject({ status: 422, code: "invalid_public_key" });
  });
});

describe("registration", () => {
  it("allocates node IDs upwards and answers with the node, its backbone address and a token", async () => {
    const a = await makeIdentity();
    const res = await registerWith(await proof(a, "register"));
    expect(res.status).toBe(201);
    const first = (await res.json()) as RegisterResponse;
    expect(first.created).toBe(true);
    expect(first.node.node_id).toBeGreaterThanOrEqual(1);
    expect(first.node.public_key).toBe(a.publicKey);
    expect(first.node.public).toBe(false);
    expect(first.node.address).toBe(`0:0000.${(first.node.node_id >>> 16).toString(16).toUpperCase().padStart(4, "0")}.${(first.node.node_id & 0xffff).toString(16).toUpperCase().padStart(4, "0")}`);
    expect(first.token.token_type).toBe("Bearer");

    const b = await register();
    expect(b.nodeId).toBe(first.node.node_id + 1);
  });

  it("gives the same key the same node ID when it registers again", async () => {
    const id = await makeIdentity();
    const first = await register(id);
    const res = await registerWith(await proof(id, "register"));
    expect(res.status).toBe(200);
    const again = (await res.json()) as RegisterResponse;
    expect(again.created).toBe(false);
    expect(again.node.node_id).toBe(first.nodeId);
  });

  it("gives one node to the same key registering many times at once", async () => {
    const id = await makeIdentity();
    const proofs = await Promise.all(Array.from({ length: 8 }, () => proof(id, "register")));
    const replies = await Promise.all(proofs.map((p) => registerWith(p)));
    const bodies = (await Promise.all(replies.map((r) => r.json()))) as RegisterResponse[];
    expect(new Set(bodies.map((b) => b.node.node_id)).size).toBe(1);
    expect(bodies.filter((b) => b.created)).toHaveLength(1);
  });

  it("refuses a replayed registration and changes nothing", async () => {
    const id = await makeIdentity();
    const p = await proof(id, "register");
    expect((await registerWith(p)).status).toBe(201);
    const before = await env.DB.prepare("SELECT count(*) AS n FROM nodes").first<{ n: number }>();
    expect(await errorOf(await registerWith(p))).toMatchObject({ status: 401, code: "challenge_invalid" });
    const after = await env.DB.prepare("SELECT count(*) AS n FROM nodes").first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });

  it("refuses a challenge answered by another key (each challenge is bound to its key)", async () => {
    const victim = await makeIdentity();
    const thief = await makeIdentity();
    const challenge = await challengeFor(victim);
    const res = await registerWith(await proof(thief, "register", challenge));
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "challenge_invalid" });
    // The victim can still use its challenge: the failed attempt did not burn it.
    expect((await registerWith(await proof(victim, "register", challenge))).status).toBe(201);
  });

  it("refuses an expired challenge", async () => {
    const id = await makeIdentity();
    const challenge = await challengeFor(id);
    await env.DB.prepare("UPDATE challenges SET expires_at = ? WHERE nonce = ?").bind(Date.now() - 1, challenge).run();
    const res = await registerWith(await proof(id, "register", challenge));
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "challenge_expired" });
  });

  it("refuses a challenge the registry never issued", async () => {
    const id = await makeIdentity();
    const res = await registerWith(await proof(id, "register", "A".repeat(43)));
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "challenge_invalid" });
  });

  it.each([
    ["signed by another key", async (id: Awaited<ReturnType<typeof makeIdentity>>, c: string) =>
      (await makeIdentity()).sign(authMessage("register", ORIGIN, c))],
    ["signed for another purpose", (id: Awaited<ReturnType<typeof makeIdentity>>, c: string) =>
      id.sign(authMessage("token", ORIGIN, c))],
    ["signed for another registry", (id: Awaited<ReturnType<typeof makeIdentity>>, c: string) =>
      id.sign(authMessage("register", "https://evil.example", c))],
    ["all zeros", async () => encodeBase64(new Uint8Array(64))],
  ])("refuses a signature %s, keeping the challenge usable", async (_, forge) => {
    const id = await makeIdentity();
    const challenge = await challengeFor(id);
    const res = await registerWith({ public_key: id.publicKey, challenge, signature: await forge(id, challenge) });
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "signature_invalid" });
    expect((await registerWith(await proof(id, "register", challenge))).status).toBe(201);
  });

  it.each([
    ["a signature of 63 bytes", { signature: encodeBase64(new Uint8Array(63)) }],
    ["a signature in bad base64", { signature: "%%%" }],
    ["a short challenge", { challenge: "abc" }],
    ["an unknown field", { hostname: "sneaky" }],
    ["a missing signature", { signature: undefined }],
  ])("refuses %s as invalid_request", async (_, patch) => {
    const id = await makeIdentity();
    const res = await registerWith({ ...(await proof(id, "register")), ...patch });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_request" });
  });
});

describe("the registry origin in signatures", () => {
  it("is PUBLIC_ORIGIN when the operator sets it, whatever Host the request names", async () => {
    const configured = { ...env, PUBLIC_ORIGIN: "https://registry.example" };
    const post = async (body: unknown) =>
      app.request(`${ORIGIN}/v1/nodes`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() }, body: JSON.stringify(body) }, configured);
    const id = await makeIdentity();
    const challenge = await challengeFor(id);
    const forHost = { public_key: id.publicKey, challenge, signature: await id.sign(authMessage("register", ORIGIN, challenge)) };
    expect(await errorOf(await post(forHost))).toMatchObject({ status: 401, code: "signature_invalid" });
    const forOrigin = { ...forHost, signature: await id.sign(authMessage("register", "https://registry.example", challenge)) };
    expect((await post(forOrigin)).status).toBe(201);
  });
});

describe("deregistration", () => {
  it("revokes the node's tokens, frees its hostname, and gives its key the same ID back later", async () => {
    const n = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: "leaving-node", public: true }, token: n.token });
    const res = await call("/v1/nodes/self", { method: "DELETE", token: n.token });
    expect(res.status).toBe(204);
    expect(await errorOf(await call("/v1/nodes/self", { token: n.token }))).toMatchObject({ status: 401, code: "token_revoked" });

    const other = await register();
    const claim = await call("/v1/nodes/self", { method: "PATCH", body: { hostname: "leaving-node" }, token: other.token });
    expect(claim.status).toBe(200);

    const back = await register(n);
    expect(back.nodeId).toBe(n.nodeId);
    const self = (await (await call("/v1/nodes/self", { token: back.token })).json()) as { hostname: null; public: boolean };
    expect(self).toMatchObject({ hostname: null, public: false });
    // The token from before deregistration stays dead after the key comes back.
    expect(await errorOf(await call("/v1/nodes/self", { token: n.token }))).toMatchObject({ code: "token_revoked" });
  });

  it("lets only one of two racing deregistrations happen", async () => {
    const n = await register();
    const [a, b] = await Promise.all([
      call("/v1/nodes/self", { method: "DELETE", token: n.token }),
      call("/v1/nodes/self", { method: "DELETE", token: n.token }),
    ]);
    expect([a.status, b.status].sort()).toEqual([204, 401]);
    const row = await env.DB.prepare("SELECT token_epoch FROM nodes WHERE id = ?").bind(n.nodeId).first<{ token_epoch: number }>();
    expect(row!.token_epoch).toBe(1);
  });

  it("ignores a request made with a token from before deregistration once the key is back", async () => {
    const n = await register();
    const stale = n.token;
    expect((await call("/v1/nodes/self", { method: "DELETE", token: stale })).status).toBe(204);
    const back = await register(n);
    expect(await errorOf(await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: stale }))).toMatchObject({ code: "token_revoked" });
    expect(await errorOf(await call("/v1/nodes/self", { method: "DELETE", token: stale }))).toMatchObject({ code: "token_revoked" });
    const self = (await (await call("/v1/nodes/self", { token: back.token })).json()) as { public: boolean };
    expect(self.public).toBe(false);
  });

  it("does not let a heartbeat from before deregistration show the re-registered node online", async () => {
    const n = await register();
    const viewer = await register();
    await env.NODE_HUB.getByName(String(n.nodeId)).heartbeat(0);
    expect((await call("/v1/nodes/self", { method: "DELETE", token: n.token })).status).toBe(204);
    const back = await register(n);
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: back.token });
    // A heartbeat that was in flight with the old token lands late.
    await env.NODE_HUB.getByName(String(n.nodeId)).heartbeat(0);
    const seen = (await (await call(`/v1/resolve/${n.nodeId}`, { token: viewer.token })).json()) as { online: boolean; last_seen: string | null };
    expect(seen).toMatchObject({ online: false, last_seen: null });
    await call("/v1/nodes/self/heartbeat", { body: {}, token: back.token });
    expect(((await (await call(`/v1/resolve/${n.nodeId}`, { token: viewer.token })).json()) as { online: boolean }).online).toBe(true);
  });
});
