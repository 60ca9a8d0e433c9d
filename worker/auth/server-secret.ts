/**
 * The one operator secret, TOKEN_SECRET, and the per-purpose keys derived from it
 * (HMAC-SHA256(secret, purpose)), so an access-token MAC can never pass as a cookie MAC, and the
 * seed of the certificate signing key (when no CERT_SIGNING_KEY is set) reveals neither.
 */
import { ApiError } from "../errors.ts";

const MIN_SECRET_LENGTH = 32;

export type KeyPurpose = "access-token" | "session-cookie" | "certificate-signing";

/** Derived keys per secret and purpose: every authenticated request needs one, the secret rarely changes. */
const cache = new Map<string, Promise<Uint8Array>>();

export function derivedKey(env: Env, purpose: KeyPurpose): Promise<Uint8Array> {
  const secret = env.TOKEN_SECRET;
  if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
    throw new ApiError(
      503,
      "server_misconfigured",
      `the registry has no TOKEN_SECRET of at least ${MIN_SECRET_LENGTH} characters; its operator must run: wrangler secret put TOKEN_SECRET`,
    );
  }
  const id = `${purpose}\n${secret}`;
  let key = cache.get(id);
  if (!key) {
    key = derive(secret, purpose);
    if (cache.size > 8) cache.clear();
    cache.set(id, key);
  }
  return key;
}

async function derive(secret: string, purpose: KeyPurpose): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(`pilot-registry/${purpose}`)));
}
