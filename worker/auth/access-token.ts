/**
 * Short-lived node access tokens: HS256 JWTs signed with a key derived from TOKEN_SECRET. They
 * carry the node's token epoch, which deregistration bumps, so a revoked node's tokens fail at once.
 */
import { errors, jwtVerify, SignJWT } from "jose";
import type { AccessToken } from "@pilot/protocol";
import { unauthorized } from "../errors.ts";
import { derivedKey } from "./server-secret.ts";
import { iso } from "../time.ts";

export const TOKEN_TTL_SECONDS = 15 * 60;
export const NODE_AUDIENCE = "pilot-node";
const ISSUER = "pilot-registry";

/** The HMAC key as a CryptoKey, imported once per derived key rather than on every request. */
const imported = new WeakMap<Uint8Array, Promise<CryptoKey>>();
async function tokenKey(env: Env): Promise<CryptoKey> {
  const raw = await derivedKey(env, "access-token");
  let key = imported.get(raw);
  if (!key) {
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    imported.set(raw, key);
  }
  return key;
}

export async function issueAccessToken(env: Env, nodeId: number, epoch: number): Promise<AccessToken> {
  const expiresAt = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
  const token = await new SignJWT({ ep: epoch })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(ISSUER)
    .setAudience(NODE_AUDIENCE)
    .setSubject(String(nodeId))
    .setIssuedAt()
    .setJti(crypto.randomUUID())
    .setExpirationTime(expiresAt)
    .sign(await tokenKey(env));
  return { access_token: token, token_type: "Bearer", expires_at: iso(expiresAt * 1000) };
}

export interface TokenClaims {
  nodeId: number;
  epoch: number;
}

export async function verifyAccessToken(env: Env, token: string): Promise<TokenClaims> {
  const key = await tokenKey(env);
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: NODE_AUDIENCE,
      requiredClaims: ["sub", "exp", "iat"],
    });
    const nodeId = Number(payload.sub);
    const epoch = payload["ep"];
    if (!Number.isSafeInteger(nodeId) || nodeId < 1 || typeof epoch !== "number" || !Number.isSafeInteger(epoch)) {
      throw new errors.JWTClaimValidationFailed("malformed claims", payload);
    }
    return { nodeId, epoch };
  } catch (e) {
    if (e instanceof errors.JWTExpired) {
      throw unauthorized("token_expired", "the access token expired");
    }
    if (e instanceof errors.JOSEError) {
      throw unauthorized("token_invalid", "the access token is not valid for this registry");
    }
    throw e;
  }
}
