import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { encodeBase64Url } from "@pilot/protocol";
import { app } from "../worker/app.ts";
import { derivedKey } from "../worker/auth/server-secret.ts";
import { call, errorOf, makeIdentity, ORIGIN, proof, register } from "./helpers.ts";

const secret = () => derivedKey(env, "access-token");
const self = (token: string) => call("/v1/nodes/self", { token });

async function forge(claims: Record<string, unknown>, opts: { key?: Uint8Array; alg?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? "HS256", typ: "JWT" })
    .sign(opts.key ?? (await secret()));
}

const now = () => Math.floor(Date.now() / 1000);

describe("access tokens", () => {
  it("are issued for a registered key that answers a challenge", async () => {
    const n = await register();
    const res = await call("/v1/auth/token", { body: await proof(n, "token"), ip: n.ip });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; token_type: string; expires_at: string };
    expect(body.token_type).toBe("Bearer");
    const ttl = Date.parse(body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(14 * 60_000);
    expect(ttl).toBeLessThanOrEqual(15 * 60_000);
    const me = (await (await self(body.access_token)).json()) as { node_id: number };
    expect(me.node_id).toBe(n.nodeId);
  });

  it("are not issued for a key that never registered", async () => {
    const id = await makeIdentity();
    const res = await call("/v1/auth/token", { body: await proof(id, "token"), ip: id.ip });
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "node_not_registered" });
  });

  it("are not issued for a registration signature (purposes do not mix)", async () => {
    const n = await register();
    const res = await call("/v1/auth/token", { body: await proof(n, "register"), ip: n.ip });
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "signature_invalid" });
  });

  it("are required on node routes", async () => {
    const res = await call("/v1/nodes/self");
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "token_missing" });
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  });

  it.each([
    ["Basic dXNlcjpwYXNz"],
    ["Bearer"],
    ["Bearer not-a-jwt"],
    ["Bearer a.b.c"],
    ["Bearer " + "x".repeat(5000)],
    ["bearer lowercase.scheme.token"],
    ["Bearer two tokens"],
  ])("refuse the Authorization header %j", async (header) => {
    const res = await call("/v1/nodes/self", { headers: { authorization: header.slice(0, 6000) } });
    expect(await errorOf(res)).toMatchObject({ status: 401, code: "token_invalid" });
  });

  it("accept the scheme in any case (RFC 7235)", async () => {
    const n = await register();
    expect((await call("/v1/nodes/self", { headers: { authorization: `bEaReR ${n.token}` } })).status).toBe(200);
  });

  it("refuse a tampered token that claims another node", async () => {
    const victim = await register();
    const attacker = await register();
    const [header, payload, signature] = attacker.token.split(".");
    const claims = JSON.parse(atob(payload!.replace(/-/g, "+").replace(/_/g, "/")));
    claims.sub = String(victim.nodeId);
    const tampered = `${header}.${encodeBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}.${signature}`;
    expect(await errorOf(await self(tampered))).toMatchObject({ status: 401, code: "token_invalid" });
  });

  it("refuse an expired token", async () => {
    const n = await register();
    const token = await forge({ iss: "pilot-registry", aud: "pilot-node", sub: String(n.nodeId), ep: 0, iat: now() - 1000, exp: now() - 10 });
    expect(await errorOf(await self(token))).toMatchObject({ status: 401, code: "token_expired" });
  });

  it.each([
    ["the wrong audience", { aud: "pilot-console" }],
    ["the wrong issuer", { iss: "someone-else" }],
    ["no expiry", { exp: undefined }],
    ["no epoch", { ep: undefined }],
    ["a non-numeric subject", { sub: "root" }],
    ["a negative subject", { sub: "-1" }],
  ])("refuse a correctly signed token with %s", async (_, patch) => {
    const n = await register();
    const claims = { iss: "pilot-registry", aud: "pilot-node", sub: String(n.nodeId), ep: 0, iat: now(), exp: now() + 600, ...patch };
    const token = await forge(JSON.parse(JSON.stringify(claims)));
    expect(await errorOf(await self(token))).toMatchObject({ status: 401, code: "token_invalid" });
  });

  it("refuse a token MACed with the raw operator secret instead of the derived token key", async () => {
    const n = await register();
    const claims = { iss: "pilot-registry", aud: "pilot-node", sub: String(n.nodeId), ep: 0, iat: now(), exp: now() + 600 };
    const raw = await forge(claims, { key: new TextEncoder().encode(env.TOKEN_SECRET) });
    expect(await errorOf(await self(raw))).toMatchObject({ status: 401, code: "token_invalid" });
  });

  it("refuse a token signed with another key or with no signature", async () => {
    const n = await register();
    const claims = { iss: "pilot-registry", aud: "pilot-node", sub: String(n.nodeId), ep: 0, iat: now(), exp: now() + 600 };
    const otherKey = await forge(claims, { key: new TextEncoder().encode("another-secret-of-sufficient-length!!") });
    expect(await errorOf(await self(otherKey))).toMatchObject({ status: 401, code: "token_invalid" });
    const unsigned = `${encodeBase64Url(new TextEncoder().encode('{"alg":"none","typ":"JWT"}'))}.${encodeBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}.`;
    expect(await errorOf(await self(unsigned))).toMatchObject({ status: 401, code: "token_invalid" });
  });

  it("refuse a token of a node that deregistered, on resolve too (which checks it in its own query)", async () => {
    const n = await register();
    const target = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: target.token });
    expect((await call(`/v1/resolve/${target.nodeId}`, { token: n.token })).status).toBe(200);
    expect((await call("/v1/nodes/self", { method: "DELETE", token: n.token })).status).toBe(204);
    expect(await errorOf(await self(n.token))).toMatchObject({ status: 401, code: "token_revoked" });
    expect(await errorOf(await call(`/v1/resolve/${target.nodeId}`, { token: n.token }))).toMatchObject({ status: 401, code: "token_revoked" });
    expect(await errorOf(await call("/v1/resolve/4000000000", { token: n.token }))).toMatchObject({ status: 401, code: "token_revoked" });
  });

  it("cannot be issued or checked when the operator set no TOKEN_SECRET, and say what to do", async () => {
    const n = await register();
    const misconfigured = { ...env, TOKEN_SECRET: "too-short" };
    const res = await app.request(`${ORIGIN}/v1/nodes/self`, { headers: { authorization: `Bearer ${n.token}` } }, misconfigured);
    const err = await errorOf(res);
    expect(err).toMatchObject({ status: 503, code: "server_misconfigured" });
    expect(err.message).toContain("wrangler secret put TOKEN_SECRET");
  });
});
