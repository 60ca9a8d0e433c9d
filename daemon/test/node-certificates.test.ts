/**
 * The daemon's keeper of certificates against a real local registry: the registry's keys fetched
 * once and kept in the home, the node's own certificate renewed at half-life, peers' certificates
 * checked, and the registry's key rotated under it.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64, parseCertificate } from "@pilot/protocol";
import { NodeCertificates } from "../src/agent/certificates.ts";
import { Identity } from "../src/identity.ts";
import { RegistryClient } from "../src/registry-client.ts";
import { TEN_MINUTES, TestSigner } from "./certificate-signer.ts";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";
import { waitFor } from "./wait.ts";

const seed = () => encodeBase64(new Uint8Array(Identity.generate().exportSeed()));
const keyA = seed();
const keyB = seed();
/** Certificates last 5 s here, so a renewal at half-life comes within the test. */
const settings = { vars: { CERT_TTL_SECONDS: "5" }, secrets: { CERT_SIGNING_KEY: keyA } };

let registry: LocalRegistry;
const homes: string[] = [];
beforeAll(async () => {
  registry = await startLocalRegistry(settings);
}, 60_000);
afterAll(async () => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
  await registry?.close();
}, 60_000);

const newHome = () => {
  const home = mkdtempSync(join(tmpdir(), "pilot-certs-"));
  homes.push(home);
  return home;
};

/** A registered node, its client counting what it asks for certificates. */
async function registered() {
  const identity = Identity.generate();
  const client = new RegistryClient({ url: registry.url, identity });
  const { node } = await client.register();
  const asked = { keys: 0, certificates: 0 };
  const counted = {
    registryKeys: () => (asked.keys++, client.registryKeys()),
    certificate: () => (asked.certificates++, client.certificate()),
  };
  return { identity, client, counted, asked, nodeId: node.node_id, key: Buffer.from(identity.publicKey, "base64") };
}

type Node = Awaited<ReturnType<typeof registered>>;

function keeper(node: Node, keysPath = join(newHome(), "registry-keys.json"), clock: { monotonic?: () => number } = {}) {
  const log: string[] = [];
  const certificates = new NodeCertificates({
    registry: node.counted,
    registryOrigin: registry.url,
    keysPath,
    publicKey: node.key,
    me: () => node.nodeId,
    log: (line) => log.push(line),
    monotonic: clock.monotonic,
  });
  return { certificates, log, keysPath };
}

describe("the node's certificates", () => {
  it("fetch the registry's keys once and keep them in the home, readable by this user only, for this registry", async () => {
    const node = await registered();
    const first = keeper(node);
    await first.certificates.start();
    first.certificates.stop();
    expect(node.asked.keys).toBe(1);
    expect(statSync(first.keysPath).mode & 0o777).toBe(0o600);
    const kept = JSON.parse(readFileSync(first.keysPath, "utf8"));
    expect(kept).toEqual({ version: 1, registry: registry.url, keys: [{ key_id: expect.stringMatching(/^[0-9a-f]{16}$/), public_key: expect.any(String), current: true }] });
    // Started again with the kept file, nothing is fetched.
    const again = keeper(node, first.keysPath);
    await again.certificates.start();
    again.certificates.stop();
    expect(node.asked.keys).toBe(1);
    expect([...again.certificates.keys.keys()]).toEqual([kept.keys[0].key_id]);
  });

  it("hold this node's certificate, renew it at half its lifetime, and vouch with it for this node's key", async () => {
    const node = await registered();
    const { certificates } = keeper(node);
    await certificates.start();
    expect(certificates.own()).toBeNull();
    await certificates.renew();
    const first = certificates.own()!;
    const cert = parseCertificate(first)!;
    expect(cert.nodeId).toBe(node.nodeId);
    expect(cert.expiresAt - cert.issuedAt).toBe(5000);
    expect(await certificates.vouchedKey(first, node.nodeId)).toEqual(node.key);
    await waitFor(() => !certificates.own()?.equals(first), "the certificate to be renewed");
    expect(node.asked.certificates).toBeGreaterThanOrEqual(2);
    certificates.stop();
  });

  it.each([
    ["not JSON", "{"],
    ["of another shape", JSON.stringify({ version: 2, keys: [] })],
    ["for another registry", (keys: object) => JSON.stringify({ version: 1, registry: "https://elsewhere.example", keys })],
    ["with a key id that is not its key's", (keys: [{ key_id: string }]) => JSON.stringify({ version: 1, registry: registry.url, keys: [{ ...keys[0], key_id: "0123456789abcdef" }] })],
  ])("set aside a kept file %s, and fetch the keys afresh", async (_, content) => {
    const node = await registered();
    const good = keeper(node);
    await good.certificates.start();
    const keys = JSON.parse(readFileSync(good.keysPath, "utf8")).keys;
    writeFileSync(good.keysPath, typeof content === "string" ? content : content(keys), { mode: 0o600 });
    const again = keeper(node, good.keysPath);
    expect(again.log).toEqual([expect.stringContaining("the registry's certificate keys will be fetched")]);
    await again.certificates.start();
    expect(node.asked.keys).toBe(2);
    expect(JSON.parse(readFileSync(good.keysPath, "utf8"))).toEqual({ version: 1, registry: registry.url, keys });
    good.certificates.stop();
    again.certificates.stop();
  });

  it("refuse a kept file that is a planted link, like any file in the home", async () => {
    const node = await registered();
    const home = newHome();
    writeFileSync(join(home, "elsewhere.json"), "{}", { mode: 0o600 });
    symlinkSync(join(home, "elsewhere.json"), join(home, "registry-keys.json"));
    expect(() => keeper(node, join(home, "registry-keys.json"))).toThrow(expect.objectContaining({ code: "insecure_file" }));
  });

  it("fetch the keys again for a certificate signed by a key not held, at most once a minute, and for no other bad certificate", async () => {
    const node = await registered();
    let clock = 0;
    const { certificates } = keeper(node, undefined, { monotonic: () => clock });
    await certificates.start();
    expect(node.asked.keys).toBe(1);
    const forger = new TestSigner();
    const stranger = Identity.generate().publicKey;
    // Expired, or for another node: refused before any key is looked for.
    const expired = forger.certify(77, stranger, { issuedAt: Date.now() - 2 * TEN_MINUTES, expiresAt: Date.now() - TEN_MINUTES });
    clock += 60_000;
    expect(await certificates.vouchedKey(expired, 77)).toBeNull();
    expect(await certificates.vouchedKey(forger.certify(78, stranger), 77)).toBeNull();
    expect(node.asked.keys).toBe(1);
    // An unknown key: fetched again, and still unknown, so refused. Others that come while the fetch
    // is under way do not wait for it: they are refused at once, and the fetch is not repeated.
    let settled = false;
    const first = certificates.vouchedKey(forger.certify(77, stranger), 77).finally(() => (settled = true));
    expect(await certificates.vouchedKey(forger.certify(77, stranger), 77)).toBeNull();
    expect(settled).toBe(false);
    expect(await first).toBeNull();
    expect(node.asked.keys).toBe(2);
    clock += 59_000;
    await Promise.all(Array.from({ length: 20 }, () => certificates.vouchedKey(forger.certify(77, stranger), 77)));
    expect(node.asked.keys).toBe(2);
    clock += 1000;
    expect(await certificates.vouchedKey(forger.certify(77, stranger), 77)).toBeNull();
    expect(node.asked.keys).toBe(3);
    certificates.stop();
  });

  it("follow a rotation: the new key is fetched when a certificate names it, the previous one holds until the registry withdraws it", async () => {
    // Ten-minute certificates: the one issued before the rotation must not simply expire meanwhile.
    const lasting = { vars: { CERT_TTL_SECONDS: "600" } };
    await registry.reconfigure({ ...lasting, secrets: { CERT_SIGNING_KEY: keyA } });
    const [node, peer] = [await registered(), await registered()];
    let clock = 0;
    const { certificates } = keeper(node, undefined, { monotonic: () => clock });
    await certificates.start();
    const before = Buffer.from((await peer.client.certificate()).certificate, "base64");
    expect(await certificates.vouchedKey(before, peer.nodeId)).toEqual(peer.key);

    // The operator rotates: a new current key, the old one published as previous.
    await registry.reconfigure({ ...lasting, secrets: { CERT_SIGNING_KEY: keyB, CERT_SIGNING_KEY_PREVIOUS: keyA } });
    const after = Buffer.from((await peer.client.certificate()).certificate, "base64");
    clock += 60_000;
    expect(await certificates.vouchedKey(after, peer.nodeId)).toEqual(peer.key);
    expect(node.asked.keys).toBe(2);
    expect(await certificates.vouchedKey(before, peer.nodeId)).toEqual(peer.key);

    // Once certificates signed before have expired, the operator withdraws the previous key.
    await registry.reconfigure({ ...lasting, secrets: { CERT_SIGNING_KEY: keyB } });
    clock += 60_000;
    await certificates.refreshKeys();
    expect(await certificates.vouchedKey(before, peer.nodeId)).toBeNull();
    expect(await certificates.vouchedKey(after, peer.nodeId)).toEqual(peer.key);
    certificates.stop();
  });
});
