/**
 * Issuing a node's certificate: its ID and identity key, signed with the current registry key, for
 * CERT_TTL_SECONDS. A node deregistered gets none, so the lifetime bounds how long after its removal
 * a certificate it kept can still open tunnels (docs/security.md).
 */
import { certificateBody, certificateSigningInput, decodeBase64, encodeCertificate, MAX_CERTIFICATE_LIFETIME_SECONDS } from "@pilot/protocol";
import type { NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { currentSigningKey } from "./signing-keys.ts";

/** A lifetime outside these bounds is a misconfiguration: too short to renew in time, or too long to end a removal's reach. */
const MIN_TTL_SECONDS = 5;
const MAX_TTL_SECONDS = MAX_CERTIFICATE_LIFETIME_SECONDS;

export interface Issued {
  certificate: Uint8Array;
  expiresAt: number;
  keyId: Uint8Array;
}

export function certificateLifetimeMs(env: Env): number {
  const text = String(env.CERT_TTL_SECONDS);
  const seconds = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || seconds < MIN_TTL_SECONDS || seconds > MAX_TTL_SECONDS) {
    throw new ApiError(503, "server_misconfigured", `CERT_TTL_SECONDS must be a whole number of seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}; its operator must fix it in wrangler.toml`);
  }
  return seconds * 1000;
}

export async function issueCertificate(env: Env, node: Pick<NodeRow, "id" | "publicKey">, now = Date.now()): Promise<Issued> {
  const lifetime = certificateLifetimeMs(env);
  const key = await currentSigningKey(env);
  const body = certificateBody({ nodeId: node.id, publicKey: decodeBase64(node.publicKey, 32)!, issuedAt: now, expiresAt: now + lifetime, keyId: key.keyId });
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, certificateSigningInput(body)));
  return { certificate: encodeCertificate(body, signature), expiresAt: now + lifetime, keyId: key.keyId };
}
