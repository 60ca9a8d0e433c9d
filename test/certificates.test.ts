/** Node certificates: issued to registered nodes only, signed by a key the registry publishes, and rotated. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  certificateSigningInput,
  decodeBase64,
  encodeBase64,
  formatKeyId,
  parseCertificate,
  type IssuedCertificate,
  type RegistryKey,
  type RegistryKeys,
} from "@pilot/protocol";
import { app } from "../worker/app.ts";
import { issueCertificate } from "../worker/certificates/issue.ts";
import { certificateVector as vector } from "../protocol/test/certificate-vectors.ts";
import { call, errorOf, ORIGIN, register, type Registered } from "./helpers.ts";

/** A registry whose secrets and settings differ from the test Worker's: what an operator's change makes of it. */
const configured = (changes: Record<string, string>) => ({ ...env, ...changes });
type Configured = ReturnType<typeof configured>;

const seed = () => encodeBase64(crypto.getRandomValues(new Uint8Array(32)));

async function keysOf(registry: Configured = env): Promise<Response> {
  return app.request(`${ORIGIN}/v1/registry/keys`, {}, registry);
}

async function keys(registry: Configured = env): Promise<RegistryKey[]> {
  const res = await keysOf(registry);
  expect(res.status).toBe(200);
  return ((await res.json()) as RegistryKeys).keys;
}

async function certificateFor(n: Registered, registry: Configured = env): Promise<Response> {
  return app.request(`${ORIGIN}/v1/nodes/self/certificate`, { method: "POST", headers: { authorization: `Bearer ${n.token}` } }, registry);
}

async function certificate(n: Registered, registry: Configured = env): Promise<IssuedCertificate> {
  const res = await certificateFor(n, registry);
  expect(res.status).toBe(200);
  return (await res.json()) as IssuedCertificate;
}

/** Whether a certificate's signature verifies under the published key its key id names. */
async function verifies(text: string, published: RegistryKey[]): Promise<boolean> {
  const cert = parseCertificate(decodeBase64(text, 129)!)!;
  const key = published.find((k) => k.key_id === formatKeyId(cert.keyId));
  if (!key) return false;
  const imported = await crypto.subtle.importKey("raw", decodeBase64(key.public_key, 32)!, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, imported, cert.signature, certificateSigningInput(cert.signed));
}

describe("node certificates", () => {
  it("bind the calling node's ID and key for ten minutes, signed by the registry's current key", async () => {
    const n = await register();
    const before = Date.now();
    const issued = await certificate(n);
    const cert = parseCertificate(decodeBase64(issued.certificate, 129)!)!;
    expect(cert.nodeId).toBe(n.nodeId);
    expect(encodeBase64(cert.publicKey)).toBe(n.publicKey);
    expect(cert.issuedAt).toBeGreaterThanOrEqual(before);
    expect(cert.expiresAt - cert.issuedAt).toBe(600_000);
    expect(issued.expires_at).toBe(new Date(cert.expiresAt).toISOString());
    expect(issued.key_id).toBe(formatKeyId(cert.keyId));
    const published = await keys();
    expect(published).toEqual([{ key_id: issued.key_id, public_key: expect.any(String), current: true }]);
    expect(await verifies(issued.certificate, published)).toBe(true);
  });

  it("are signed byte for byte as the worked vector", async () => {
    const registry = configured({ CERT_SIGNING_KEY: vector.registrySeed });
    expect(await keys(registry)).toEqual([{ key_id: vector.keyId, public_key: vector.registryPublicKey, current: true }]);
    const issued = await issueCertificate(registry, { id: vector.nodeId, publicKey: vector.nodePublicKey }, vector.issuedAt);
    expect(Array.from(issued.certificate, (b) => b.toString(16).padStart(2, "0")).join("")).toBe(vector.certificate);
  });

  it("are refused, with the error of every node call, to a node without a valid token or no longer registered", async () => {
    const n = await register();
    const anonymous = await app.request(`${ORIGIN}/v1/nodes/self/certificate`, { method: "POST" }, env);
    expect(await errorOf(anonymous)).toMatchObject({ status: 401, code: "token_missing" });
    expect(await errorOf(await certificateFor({ ...n, token: "not.a.token" }))).toMatchObject({ status: 401, code: "token_invalid" });
    expect((await call("/v1/nodes/self", { method: "DELETE", token: n.token })).status).toBe(204);
    expect(await errorOf(await certificateFor(n))).toMatchObject({ status: 401, code: "token_revoked" });
    // Registered again, the same key is the same node, but a token from before is still refused.
    const again = await register(n);
    expect(again.nodeId).toBe(n.nodeId);
    expect(await errorOf(await certificateFor(n))).toMatchObject({ status: 401, code: "token_revoked" });
    expect(parseCertificate(decodeBase64((await certificate(again)).certificate, 129)!)?.nodeId).toBe(n.nodeId);
  });

  it("are signed with a key derived from TOKEN_SECRET when the operator set none, which changes with it", async () => {
    const [first] = await keys();
    expect((await keys())[0]).toEqual(first);
    const secret = "another secret of at least thirty-two characters";
    const [other] = await keys(configured({ TOKEN_SECRET: secret }));
    expect(other!.key_id).not.toBe(first!.key_id);
    expect(other!.public_key).not.toBe(first!.public_key);
    // The seed is HMAC-SHA256(TOKEN_SECRET, "pilot-registry/certificate-signing"), as docs/registry.md
    // tells an operator who rotates away from it to compute.
    const hmac = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const derived = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode("pilot-registry/certificate-signing")));
    expect(await keys(configured({ TOKEN_SECRET: secret, CERT_SIGNING_KEY: encodeBase64(derived) }))).toEqual([other]);
  });

  it("have public keys anyone may fetch and cache", async () => {
    const res = await call("/v1/registry/keys");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
  });

  it("rotate: certificates signed before keep verifying while the previous key is published, and stop once it is withdrawn", async () => {
    const n = await register();
    const [a, b] = [seed(), seed()];
    const before = await certificate(n, configured({ CERT_SIGNING_KEY: a }));
    const [keyA] = await keys(configured({ CERT_SIGNING_KEY: a }));

    // The operator's first step: the current key is also put in as the previous one, and listed once.
    expect(await keys(configured({ CERT_SIGNING_KEY: a, CERT_SIGNING_KEY_PREVIOUS: a }))).toEqual([keyA]);
    const rotating = configured({ CERT_SIGNING_KEY: b, CERT_SIGNING_KEY_PREVIOUS: a });
    const published = await keys(rotating);
    expect(published.map((k) => [k.key_id, k.current])).toEqual([
      [expect.not.stringMatching(keyA!.key_id), true],
      [keyA!.key_id, false],
    ]);
    const after = await certificate(n, rotating);
    expect(after.key_id).toBe(published[0]!.key_id);
    expect(await verifies(before.certificate, published)).toBe(true);
    expect(await verifies(after.certificate, published)).toBe(true);

    const rotated = await keys(configured({ CERT_SIGNING_KEY: b }));
    expect(rotated).toEqual([published[0]]);
    expect(await verifies(before.certificate, rotated)).toBe(false);
    expect(await verifies(after.certificate, rotated)).toBe(true);
  });

  it.each([
    ["a signing key that is not base64", { CERT_SIGNING_KEY: "not base64!" }],
    ["a signing key of 31 bytes", { CERT_SIGNING_KEY: encodeBase64(new Uint8Array(31)) }],
    ["a previous key of 33 bytes", { CERT_SIGNING_KEY_PREVIOUS: encodeBase64(new Uint8Array(33)) }],
  ])("are not issued, and no key is published, with %s: the operator is told what to fix", async (_, secrets) => {
    const n = await register();
    const registry = configured(secrets);
    const name = Object.keys(secrets)[0]!;
    const published = await errorOf(await keysOf(registry));
    expect(published).toMatchObject({ status: 503, code: "server_misconfigured" });
    expect(published.message).toContain(`wrangler secret put ${name}`);
    // The previous key signs nothing, so only a bad current key stops issuing.
    if (name === "CERT_SIGNING_KEY") expect(await errorOf(await certificateFor(n, registry))).toMatchObject({ status: 503, code: "server_misconfigured" });
  });

  it.each(["0", "4", "3601", "600.5", "ten minutes", ""])("are not issued when CERT_TTL_SECONDS is %j", async (ttl) => {
    const n = await register();
    const err = await errorOf(await certificateFor(n, configured({ CERT_TTL_SECONDS: ttl })));
    expect(err).toMatchObject({ status: 503, code: "server_misconfigured" });
    expect(err.message).toContain("CERT_TTL_SECONDS");
  });

  it("last as long as CERT_TTL_SECONDS says", async () => {
    const issued = parseCertificate(decodeBase64((await certificate(await register(), configured({ CERT_TTL_SECONDS: "5" }))).certificate, 129)!)!;
    expect(issued.expiresAt - issued.issuedAt).toBe(5000);
  });
});
