/**
 * Password storage: PBKDF2-SHA256 through WebCrypto with a 16-byte random salt, at 100,000
 * iterations (the most the Workers runtime allows). The format records the iteration count so it
 * can be raised later without breaking stored hashes.
 */
import { decodeBase64, encodeBase64 } from "@pilot/protocol";

const ITERATIONS = 100_000;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, HASH_BYTES * 8);
  return new Uint8Array(bits);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, ITERATIONS);
  return `pbkdf2-sha256$${ITERATIONS}$${encodeBase64(salt)}$${encodeBase64(hash)}`;
}

/** A hash of nothing, checked when the account does not exist so that a miss takes as long as a hit. */
const DUMMY = `pbkdf2-sha256$${ITERATIONS}$${encodeBase64(new Uint8Array(SALT_BYTES))}$${encodeBase64(new Uint8Array(HASH_BYTES))}`;

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const [scheme, iterations, salt, hash] = (stored ?? DUMMY).split("$");
  const saltBytes = decodeBase64(salt ?? "", SALT_BYTES);
  const hashBytes = decodeBase64(hash ?? "", HASH_BYTES);
  if (scheme !== "pbkdf2-sha256" || !saltBytes || !hashBytes) return false;
  const candidate = await derive(password, saltBytes, Number(iterations));
  return crypto.subtle.timingSafeEqual(candidate, hashBytes) && stored !== undefined;
}
