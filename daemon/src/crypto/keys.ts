/** Raw-key helpers over node:crypto for Ed25519 identities and X25519 ephemerals. */
import { createPublicKey, diffieHellman, generateKeyPairSync, verify, type KeyObject } from "node:crypto";

const okp = (crv: "Ed25519" | "X25519", raw: Buffer) =>
  createPublicKey({ key: { kty: "OKP", crv, x: raw.toString("base64url") }, format: "jwk" });

export function verifyEd25519(publicKey: Buffer, message: Buffer, signature: Buffer): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, okp("Ed25519", publicKey), signature);
  } catch {
    return false;
  }
}

export interface Ephemeral {
  publicKey: Buffer;
  privateKey: KeyObject;
}

export function newEphemeral(): Ephemeral {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url"), privateKey };
}

/** X25519; null for a peer key that yields the all-zero secret (a low-order point). */
export function sharedSecret(mine: Ephemeral, theirs: Buffer): Buffer | null {
  if (theirs.length !== 32) return null;
  try {
    const secret = diffieHellman({ privateKey: mine.privateKey, publicKey: okp("X25519", theirs) });
    return secret.every((b) => b === 0) ? null : secret;
  } catch {
    return null;
  }
}
