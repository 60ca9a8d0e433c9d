/** Checking node certificates, without I/O: every way a stranger's certificate can be wrong is refused. */
import { describe, expect, it } from "vitest";
import { decodeBase64, type RegistryKey } from "@pilot/protocol";
import { CERTIFICATE_CLOCK_SKEW_MS, keyIdOf, keyring, verifyCertificate } from "../src/crypto/certificate.ts";
import { Identity } from "../src/identity.ts";
import { certificateVector as v } from "../../protocol/test/certificate-vectors.ts";
import { TestSigner } from "./certificate-signer.ts";

const vector = Buffer.from(v.certificate, "hex");
const registry = new TestSigner(Identity.fromSeed(decodeBase64(v.registrySeed, 32)!));
const keys = registry.keyring();
const during = v.issuedAt + 1000;
const check = (bytes: Uint8Array, at = during, sender: number = v.nodeId, ring = keys) => verifyCertificate(bytes, { keys: ring, now: at, sender });

/** The vector with one byte changed. */
function bent(offset: number): Buffer {
  const copy = Buffer.from(vector);
  copy[offset]! ^= 0x01;
  return copy;
}

describe("a node certificate", () => {
  it("vouches for its node's key: the worked vector, under the registry key it names", () => {
    expect(registry.keyId).toBe(v.keyId);
    expect(keyIdOf(decodeBase64(v.registryPublicKey, 32)!)).toBe(v.keyId);
    expect(check(vector)).toEqual({ nodeId: v.nodeId, publicKey: Buffer.from(v.nodePublicKey, "base64"), expiresAt: v.expiresAt });
  });

  it("holds until its expiry, and a small clock difference after it, but no longer", () => {
    expect(check(vector, v.expiresAt + CERTIFICATE_CLOCK_SKEW_MS)).not.toBeNull();
    expect(check(vector, v.expiresAt + CERTIFICATE_CLOCK_SKEW_MS + 1)).toBeNull();
    expect(CERTIFICATE_CLOCK_SKEW_MS).toBeLessThanOrEqual(60_000);
  });

  it("vouches for nobody but the node it names", () => {
    expect(check(vector, during, v.nodeId + 1)).toBeNull();
  });

  it("is refused when signed by a key the daemon does not hold, or by another key under the registry's key id", () => {
    const stranger = new TestSigner();
    const node = Identity.generate().publicKey;
    expect(check(stranger.certify(v.nodeId, node, { issuedAt: v.issuedAt }))).toBeNull();
    // The registry's key id on a certificate someone else signed.
    expect(check(stranger.certify(v.nodeId, node, { issuedAt: v.issuedAt, keyId: registry.keyId }))).toBeNull();
    // With the stranger's key held too, its own certificate passes: the key decides, not the id.
    expect(check(stranger.certify(v.nodeId, node, { issuedAt: v.issuedAt }), during, v.nodeId, registry.keyring(stranger))).not.toBeNull();
    expect(check(vector, during, v.nodeId, new Map())).toBeNull();
  });

  it.each([
    ["the node ID", 6],
    ["the node's key", 20],
    ["the issue time", 47],
    ["the expiry", 55],
    ["the key id", 60],
    ["the signature", 100],
  ])("is refused when %s was changed after signing", (_, offset) => {
    // A changed key id names a key the daemon does not hold; anything else breaks the signature.
    const bytes = bent(offset);
    expect(check(bytes, during, bytes.readUInt32BE(5))).toBeNull();
  });

  it.each([
    ["empty", Buffer.alloc(0)],
    ["truncated", vector.subarray(0, 128)],
    ["extended", Buffer.concat([vector, Buffer.alloc(1)])],
    ["another version", bent(4)],
    ["another magic", bent(0)],
    ["random bytes", Buffer.from(Array.from({ length: 129 }, (_, i) => (i * 37) & 255))],
  ])("is refused, without an exception, when %s", (_, bytes) => {
    expect(check(bytes)).toBeNull();
  });

  it("comes with registry keys that are refused if an id is not its key's", () => {
    const good: RegistryKey = { key_id: registry.keyId, public_key: v.registryPublicKey, current: true };
    expect(keyring([good])?.get(registry.keyId)).toEqual(registry.publicKey);
    expect(keyring([good, { ...good, key_id: "0000000000000000", current: false }])).toBeNull();
  });
});
