/**
 * Node certificates: the registry's signed statement that a node ID holds an Ed25519 identity key
 * until a time. Daemons carry them in their key exchanges, so a peer learns the sender's key without
 * asking the registry (docs/security.md, "Node certificates").
 *
 * The binary form (129 bytes, integers big-endian):
 *   "PILC" | u8 version (1) | u32 node id | Ed25519 public key (32) | u64 issued_at (Unix ms)
 *   | u64 expires_at (Unix ms) | registry key id (8) | Ed25519 signature (64)
 * The key id is the first 8 bytes of SHA-256 of the registry's signing public key; the signature,
 * by that key, covers CERTIFICATE_CONTEXT followed by every byte before the signature.
 *
 * Only bytes live here: signing is the registry's, verifying the daemon's, each with its own crypto.
 */
import { z } from "zod";
import { MAX_NODE_ID } from "./address.ts";
import { PublicKey, Timestamp } from "./api.ts";
import { decodeBase64 } from "./encoding.ts";

export const CERTIFICATE_MAGIC = "PILC";
export const CERTIFICATE_VERSION = 1;
export const CERTIFICATE_SIGNED_BYTES = 65;
export const CERTIFICATE_BYTES = CERTIFICATE_SIGNED_BYTES + 64;
export const KEY_ID_BYTES = 8;
/** What the signature covers first: a registry signature over anything else can never pass as a certificate. */
export const CERTIFICATE_CONTEXT = "pilot-node-cert-v1";
/**
 * No registry issues a certificate for longer (CERT_TTL_SECONDS is at most this): so no certificate
 * issued before a moment is valid this long after it, which bounds what a daemon must remember about
 * keys that changed.
 */
export const MAX_CERTIFICATE_LIFETIME_SECONDS = 3600;

export interface CertificateFields {
  nodeId: number;
  /** The node's Ed25519 identity key, 32 bytes. */
  publicKey: Uint8Array;
  issuedAt: number;
  expiresAt: number;
  /** Which registry key signed it (see keyIdOf in each side's crypto). */
  keyId: Uint8Array;
}

export interface NodeCertificate extends CertificateFields {
  signature: Uint8Array;
  /** The bytes the signature covers after the context. */
  signed: Uint8Array;
}

const MAGIC = new TextEncoder().encode(CERTIFICATE_MAGIC);

/** The part of a certificate the registry signs. */
export function certificateBody(fields: CertificateFields): Uint8Array {
  const { nodeId, issuedAt, expiresAt } = fields;
  if (fields.publicKey.length !== 32 || fields.keyId.length !== KEY_ID_BYTES) throw new RangeError("a certificate holds a 32-byte key and an 8-byte key id");
  if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > MAX_NODE_ID) throw new RangeError(`node ID ${nodeId} is outside 1..${MAX_NODE_ID}`);
  if (!Number.isSafeInteger(issuedAt) || !Number.isSafeInteger(expiresAt) || issuedAt < 0 || expiresAt < issuedAt) throw new RangeError("a certificate expires after it is issued");
  const body = new Uint8Array(CERTIFICATE_SIGNED_BYTES);
  const view = new DataView(body.buffer);
  body.set(MAGIC, 0);
  body[4] = CERTIFICATE_VERSION;
  view.setUint32(5, nodeId);
  body.set(fields.publicKey, 9);
  view.setBigUint64(41, BigInt(issuedAt));
  view.setBigUint64(49, BigInt(expiresAt));
  body.set(fields.keyId, 57);
  return body;
}

/** The message a certificate's signature is over: the context, then the body. */
export function certificateSigningInput(body: Uint8Array): Uint8Array {
  const context = new TextEncoder().encode(CERTIFICATE_CONTEXT);
  const input = new Uint8Array(context.length + body.length);
  input.set(context, 0);
  input.set(body, context.length);
  return input;
}

export function encodeCertificate(body: Uint8Array, signature: Uint8Array): Uint8Array {
  if (body.length !== CERTIFICATE_SIGNED_BYTES || signature.length !== 64) throw new RangeError("a certificate is a 65-byte body and a 64-byte signature");
  const bytes = new Uint8Array(CERTIFICATE_BYTES);
  bytes.set(body, 0);
  bytes.set(signature, CERTIFICATE_SIGNED_BYTES);
  return bytes;
}

/**
 * A certificate's fields, or null for anything malformed: the wrong length, magic or version, node
 * ID 0, times past 2^53 ms, or an expiry before the issue. The signature is not checked here.
 */
export function parseCertificate(bytes: Uint8Array): NodeCertificate | null {
  if (bytes.length !== CERTIFICATE_BYTES || MAGIC.some((b, i) => bytes[i] !== b) || bytes[4] !== CERTIFICATE_VERSION) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nodeId = view.getUint32(5);
  const issuedAt = view.getBigUint64(41);
  const expiresAt = view.getBigUint64(49);
  if (nodeId === 0 || expiresAt > BigInt(Number.MAX_SAFE_INTEGER) || issuedAt > expiresAt) return null;
  return {
    nodeId,
    publicKey: bytes.slice(9, 41),
    issuedAt: Number(issuedAt),
    expiresAt: Number(expiresAt),
    keyId: bytes.slice(57, 65),
    signature: bytes.slice(65, CERTIFICATE_BYTES),
    signed: bytes.slice(0, CERTIFICATE_SIGNED_BYTES),
  };
}

/** A key id as the API writes it: 16 lowercase hex digits. */
export const formatKeyId = (keyId: Uint8Array) => Array.from(keyId, (b) => b.toString(16).padStart(2, "0")).join("");

// ── The API ──

export const KeyId = z
  .string()
  .regex(/^[0-9a-f]{16}$/, "must be 16 lowercase hex digits")
  .meta({ description: "The first 8 bytes of SHA-256 of a registry signing key, in hex", example: "3f1c0a9b7d2e4f60" });

export const RegistryKey = z
  .object({
    key_id: KeyId,
    public_key: PublicKey,
    current: z.boolean().meta({ description: "whether new certificates are signed with this key; the others only still verify" }),
  })
  .meta({ id: "RegistryKey" });
export type RegistryKey = z.infer<typeof RegistryKey>;

export const RegistryKeys = z
  .object({ keys: z.array(RegistryKey).min(1).max(8) })
  .meta({ id: "RegistryKeys", description: "The keys node certificates are signed with" });
export type RegistryKeys = z.infer<typeof RegistryKeys>;

export const CertificateText = z
  .string()
  .max(256)
  .refine((s) => {
    const bytes = decodeBase64(s, CERTIFICATE_BYTES);
    return bytes !== null && parseCertificate(bytes) !== null;
  }, `must be a ${CERTIFICATE_BYTES}-byte node certificate in canonical padded base64`)
  .meta({ description: `A node certificate, ${CERTIFICATE_BYTES} bytes in standard padded base64 (format in docs/registry.md)` });

export const IssuedCertificate = z
  .object({ certificate: CertificateText, expires_at: Timestamp, key_id: KeyId })
  .meta({ id: "IssuedCertificate" });
export type IssuedCertificate = z.infer<typeof IssuedCertificate>;
