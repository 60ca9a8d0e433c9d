/**
 * Tunnel frames, the UDP payloads between daemons. Only two exist, and both are authenticated:
 *
 * PILA, the signed key exchange (151 bytes, or 280 with a certificate):
 *   "PILA" | u8 version (4) | u8 role (0 initiate, 1 respond, 2 probe) | u32 sender | u32 receiver
 *   | u64 time (Unix ms) | X25519 public key (32) | answers (32) | u8 certificate length (0 or 129)
 *   | the sender's node certificate | Ed25519 signature (64)
 * `answers` is zero in an initiation and, in a response, the initiator's X25519 key: a response
 * completes only the exchange it answers. A probe (hole punching, docs/nat-traversal.md) opens the
 * sender's NAT towards a node that is dialing it and starts nothing: its X25519 key and `answers`
 * are zero, and a node answers it only with an initiation of the exchange it has under way. The certificate (protocol's certificate.ts) is the
 * registry's word for the sender's identity key, inside the signed part so it is bound to this
 * hello. The signature covers "pilot-tunnel-v4/hello" and every byte before it, with the sender's
 * identity key, which the receiver takes from a valid certificate or else from the registry.
 *
 * PILS, an encrypted packet:
 *   "PILS" | u32 sender | u32 key id | u64 counter | AEAD(packet) | tag (16)
 * The AEAD is ChaCha20-Poly1305 for a packet of up to 4,096 bytes and AES-256-GCM above, each with
 * keys of its own (crypto/session.ts). The first 20 bytes are the associated data, binding sender,
 * key and counter to the ciphertext; the nonce is four zero bytes and the counter. There is no
 * plaintext frame, and none is accepted.
 */

import { CERTIFICATE_BYTES } from "@pilot/protocol";

export const PILA = Buffer.from("PILA");
export const PILS = Buffer.from("PILS");
const PILS_TAG = PILS.readUInt32BE(0);
/**
 * Version 4 seals small packets with ChaCha20-Poly1305 (crypto/session.ts); a daemon of version 3
 * would complete the exchange and then fail every packet, so the versions refuse each other here.
 */
export const HELLO_VERSION = 4;
/** The fields every hello has, up to and including the certificate's length. */
const HELLO_FIXED_BYTES = 87;
/** A hello without a certificate. */
export const HELLO_BYTES = HELLO_FIXED_BYTES + 64;
const NO_ANSWER = Buffer.alloc(32);
export const SEALED_HEADER_BYTES = 20;
export const TAG_BYTES = 16;
const HELLO_CONTEXT = Buffer.from("pilot-tunnel-v4/hello");

export type Role = "initiate" | "respond" | "probe";
const ROLES: readonly Role[] = ["initiate", "respond", "probe"];

export interface Hello {
  role: Role;
  sender: number;
  receiver: number;
  time: number;
  ephemeral: Buffer;
  /** The initiator's ephemeral key, in a response; zeros in an initiation. */
  answers: Buffer;
  /** The sender's node certificate, unchecked, if it sent one. */
  certificate: Buffer | null;
  signature: Buffer;
  /** The bytes the signature covers. */
  signed: Buffer;
}

export function helloBody(
  role: Role,
  sender: number,
  receiver: number,
  time: number,
  ephemeral: Buffer,
  answers: Buffer = NO_ANSWER,
  certificate: Uint8Array | null = null,
): Buffer {
  if (certificate && certificate.length !== CERTIFICATE_BYTES) throw new RangeError(`a node certificate is ${CERTIFICATE_BYTES} bytes`);
  const b = Buffer.alloc(HELLO_FIXED_BYTES + (certificate?.length ?? 0));
  PILA.copy(b, 0);
  b[4] = HELLO_VERSION;
  b[5] = ROLES.indexOf(role);
  b.writeUInt32BE(sender, 6);
  b.writeUInt32BE(receiver, 10);
  b.writeBigUInt64BE(BigInt(time), 14);
  ephemeral.copy(b, 22);
  answers.copy(b, 54);
  b[86] = certificate?.length ?? 0;
  if (certificate) b.set(certificate, HELLO_FIXED_BYTES);
  return b;
}

/** The version byte of a frame that begins as a hello does, or null: a hello of another version is told from noise, to say why it is dropped. */
export const helloVersionOf = (b: Buffer): number | null => (b.length > 4 && b.subarray(0, 4).equals(PILA) ? b[4]! : null);

export const helloSigningInput = (body: Buffer) => Buffer.concat([HELLO_CONTEXT, body]);

/** Parses a PILA frame's fields; the caller verifies the signature and the certificate. Returns null for anything malformed. */
export function parseHello(b: Buffer): Hello | null {
  if (b.length < HELLO_BYTES || !b.subarray(0, 4).equals(PILA) || b[4] !== HELLO_VERSION || b[5]! >= ROLES.length) return null;
  const certificateBytes = b[86]!;
  if ((certificateBytes !== 0 && certificateBytes !== CERTIFICATE_BYTES) || b.length !== HELLO_BYTES + certificateBytes) return null;
  const signedBytes = HELLO_FIXED_BYTES + certificateBytes;
  return {
    role: ROLES[b[5]!]!,
    sender: b.readUInt32BE(6),
    receiver: b.readUInt32BE(10),
    time: Number(b.readBigUInt64BE(14)),
    ephemeral: b.subarray(22, 54),
    answers: b.subarray(54, 86),
    certificate: certificateBytes ? b.subarray(HELLO_FIXED_BYTES, signedBytes) : null,
    signature: b.subarray(signedBytes),
    signed: b.subarray(0, signedBytes),
  };
}

export interface SealedHeader {
  sender: number;
  keyId: number;
  counter: number;
}

/** Counters past this are malformed: no session lives that long, and a number holds any below exactly. */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** Writes a counter as the u64 it is on the wire. */
export function writeCounter(b: Buffer, counter: number, at: number): void {
  b.writeUInt32BE(Math.floor(counter / 2 ** 32), at);
  b.writeUInt32BE(counter >>> 0, at + 4);
}

export function parseSealedHeader(b: Buffer): SealedHeader | null {
  if (b.length < SEALED_HEADER_BYTES + TAG_BYTES || b.readUInt32BE(0) !== PILS_TAG) return null;
  const counter = b.readUInt32BE(12) * 2 ** 32 + b.readUInt32BE(16);
  if (counter > MAX_COUNTER) return null;
  return { sender: b.readUInt32BE(4), keyId: b.readUInt32BE(8), counter };
}
