/**
 * Proof of possession of an Ed25519 identity key: a single-use challenge issued for that key,
 * signed together with the purpose and this registry's origin (see `authMessage`).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { and, eq, lt } from "drizzle-orm";
import {
  authMessage,
  BEYOND_SCHEMA_STATUS,
  CHALLENGE_TTL_SECONDS,
  decodeBase64,
  encodeBase64Url,
  type AuthPurpose,
  type ProofRequest,
} from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { challenges } from "../db/schema.ts";
import { ApiError, unauthorized } from "../errors.ts";
import { iso } from "../time.ts";

/**
 * Refuses encodings that are not points, and points that are small-order or carry a torsion
 * component: for such keys a signature can be forged without any private key, so accepting one
 * would make "proof" of possession meaningless.
 */
function checkPublicKey(bytes: Uint8Array): void {
  let valid = false;
  try {
    const point = ed25519.Point.fromBytes(bytes, false);
    valid = !point.isSmallOrder() && point.isTorsionFree();
  } catch {
    valid = false;
  }
  if (!valid) throw new ApiError(BEYOND_SCHEMA_STATUS, "invalid_public_key", "public_key is not a usable Ed25519 public key");
}

export async function issueChallenge(db: Database, publicKey: string, now = Date.now()) {
  checkPublicKey(decodeBase64(publicKey, 32)!);
  const nonce = encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const expiresAt = now + CHALLENGE_TTL_SECONDS * 1000;
  await db.insert(challenges).values({ nonce, publicKey, expiresAt });
  return { challenge: nonce, expires_at: iso(expiresAt) };
}

/**
 * Checks the signature first (nothing changes if it is bad), then consumes the challenge in one
 * statement, so two requests racing with the same challenge cannot both succeed.
 */
export async function verifyProof(
  db: Database,
  purpose: AuthPurpose,
  origin: string,
  proof: ProofRequest,
  now = Date.now(),
): Promise<void> {
  await checkSignature(proof.public_key, proof.signature, authMessage(purpose, origin, proof.challenge), `this key and a "${purpose}" request to ${origin}`);
  await consumeChallenge(db, proof.challenge, proof.public_key, now);
}

/** Refuses, with `signature_invalid`, a key that is not usable or a signature of `message` it did not make. */
export async function checkSignature(publicKey: string, signature: string, message: Uint8Array, forWhat: string): Promise<void> {
  const keyBytes = decodeBase64(publicKey, 32)!;
  checkPublicKey(keyBytes);
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "Ed25519" }, false, ["verify"]);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, key, decodeBase64(signature, 64)!, message))) {
    throw unauthorized("signature_invalid", `the signature does not verify for ${forWhat}`);
  }
}

/** Uses up a challenge issued for `publicKey`, in one statement; refuses one unknown, used, issued for another key, or expired. */
export async function consumeChallenge(db: Database, challenge: string, publicKey: string, now = Date.now()): Promise<void> {
  const [used] = await db
    .delete(challenges)
    .where(and(eq(challenges.nonce, challenge), eq(challenges.publicKey, publicKey)))
    .returning({ expiresAt: challenges.expiresAt });
  if (!used) {
    throw unauthorized("challenge_invalid", "the challenge is unknown, already used, or was issued for another key; request a new one");
  }
  if (used.expiresAt <= now) {
    throw unauthorized("challenge_expired", `the challenge expired; request a new one and answer within ${CHALLENGE_TTL_SECONDS} s`);
  }
}

export async function sweepExpiredChallenges(db: Database, now = Date.now()) {
  await db.delete(challenges).where(lt(challenges.expiresAt, now));
}
