/** Random bearer secrets (API tokens, enrollment keys, sessions, join tokens) and how they are stored and compared. */
import { encodeBase64Url } from "@pilot/protocol";

/** 256 random bits, base64url, behind a prefix that says what the secret is for. */
export const newSecret = (prefix: string) => `${prefix}_${encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two strings in time that depends only on their digests, not on where they differ. */
export async function sameSecret(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}
