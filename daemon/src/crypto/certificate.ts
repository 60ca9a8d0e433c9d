/**
 * Checking a node certificate (the format is the protocol's certificate.ts): without I/O, against
 * the registry keys this daemon holds and a clock it is given. A certificate is the registry's word
 * for a peer's identity key; whether that peer may reach this node is not its business.
 */
import { createHash } from "node:crypto";
import { certificateSigningInput, formatKeyId, KEY_ID_BYTES, parseCertificate, type NodeCertificate, type RegistryKey } from "@pilot/protocol";
import { verifyEd25519 } from "./keys.ts";

/**
 * A certificate is still taken this long after its expiry by our clock: the registry's clock and
 * ours may differ a little. (A clock ahead of the registry's by up to half a lifetime needs no
 * allowance: certificates are renewed at half-life.)
 */
export const CERTIFICATE_CLOCK_SKEW_MS = 30_000;

/** The registry signing keys a daemon trusts, by key id (16 hex digits). */
export type Keyring = ReadonlyMap<string, Buffer>;

export interface CertifiedKey {
  nodeId: number;
  publicKey: Buffer;
  expiresAt: number;
}

/** A registry key's id: the first 8 bytes of SHA-256 of its public key, in hex. */
export const keyIdOf = (publicKey: Uint8Array) => formatKeyId(createHash("sha256").update(publicKey).digest().subarray(0, KEY_ID_BYTES));

/** The keys the registry published, by id; null if any id is not its key's, which no honest registry sends. */
export function keyring(keys: readonly RegistryKey[]): Map<string, Buffer> | null {
  const ring = new Map<string, Buffer>();
  for (const key of keys) {
    const publicKey = Buffer.from(key.public_key, "base64");
    if (keyIdOf(publicKey) !== key.key_id) return null;
    ring.set(key.key_id, publicKey);
  }
  return ring;
}

/** Whether a parsed certificate is for `sender` and unexpired at `now`: the checks that need no key. */
export const fitsSender = (cert: NodeCertificate, sender: number, now: number) => cert.nodeId === sender && now <= cert.expiresAt + CERTIFICATE_CLOCK_SKEW_MS;

/**
 * The identity key a certificate vouches for, or null: malformed, for a node other than `sender`,
 * expired at `now` (past the allowance), signed by a key not in `keys`, or signed wrongly.
 */
export function verifyCertificate(bytes: Uint8Array, { keys, now, sender }: { keys: Keyring; now: number; sender: number }): CertifiedKey | null {
  const cert = parseCertificate(bytes);
  if (!cert || !fitsSender(cert, sender, now)) return null;
  const signer = keys.get(formatKeyId(cert.keyId));
  if (!signer || !verifyEd25519(signer, Buffer.from(certificateSigningInput(cert.signed)), Buffer.from(cert.signature))) return null;
  return { nodeId: cert.nodeId, publicKey: Buffer.from(cert.publicKey), expiresAt: cert.expiresAt };
}
