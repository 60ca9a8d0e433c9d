/**
 * STUN (RFC 8489): the message format, with what a client that asks "what is my public address?"
 * needs (Binding requests and responses, XOR-MAPPED-ADDRESS and the older MAPPED-ADDRESS) and what
 * TURN builds on (any method, XOR addresses, ERROR-CODE, REALM and NONCE, MESSAGE-INTEGRITY with
 * short-term or long-term keys, FINGERPRINT). Checked against the RFC 5769 test vectors. The client
 * and a small responder for tests and local setups are in stun-client.ts; the default server is
 * Cloudflare's. TURN's own methods and attributes are in turn/.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { crc32 } from "node:zlib";

export const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;
export const HEADER = 20;

export const METHOD_BINDING = 0x001;
export const ATTR = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

export type StunClass = "request" | "indication" | "success" | "error";
const CLASS_BITS: Record<StunClass, number> = { request: 0x000, indication: 0x010, success: 0x100, error: 0x110 };

export interface StunAttribute {
  type: number;
  value: Buffer;
  /** Offset of the attribute's header within the message. */
  offset: number;
}

export interface StunMessage {
  method: number;
  class: StunClass;
  transactionId: Buffer;
  attributes: StunAttribute[];
  raw: Buffer;
}

export interface TransportAddress {
  address: string;
  port: number;
  family: 4 | 6;
}

export class StunError extends Error {
  override name = "StunError";
}

/** Whether a datagram looks like STUN at all (first two bits zero, magic cookie in place). */
export const looksLikeStun = (b: Buffer) => b.length >= HEADER && (b[0]! & 0xc0) === 0 && b.readUInt32BE(4) === MAGIC_COOKIE;

export function decodeStun(raw: Buffer): StunMessage {
  if (!looksLikeStun(raw)) throw new StunError("not a STUN message");
  const type = raw.readUInt16BE(0);
  const length = raw.readUInt16BE(2);
  if (length % 4 !== 0 || HEADER + length !== raw.length) throw new StunError("length does not match the datagram");
  const classBits = type & 0x110;
  const cls = (Object.keys(CLASS_BITS) as StunClass[]).find((k) => CLASS_BITS[k] === classBits)!;
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const attributes: StunAttribute[] = [];
  for (let at = HEADER; at < raw.length; ) {
    if (at + 4 > raw.length) throw new StunError("truncated attribute header");
    const attrType = raw.readUInt16BE(at);
    const attrLength = raw.readUInt16BE(at + 2);
    const end = at + 4 + attrLength;
    if (end > raw.length) throw new StunError("truncated attribute");
    attributes.push({ type: attrType, value: raw.subarray(at + 4, end), offset: at });
    at = end + ((4 - (attrLength % 4)) % 4);
  }
  return { method, class: cls, transactionId: raw.subarray(8, 20), attributes, raw };
}

/** The first attribute of a type; later ones of the same type are ignored, as RFC 8489 says. */
export const attribute = (m: StunMessage, type: number) => m.attributes.find((a) => a.type === type);

/** The message's bytes up to an attribute, with the length field covering through that attribute. */
function prefixFor(m: StunMessage, a: StunAttribute, covering: number): Buffer {
  const prefix = Buffer.from(m.raw.subarray(0, a.offset));
  prefix.writeUInt16BE(a.offset + covering - HEADER, 2);
  return prefix;
}

export function verifyFingerprint(m: StunMessage): boolean {
  const a = attribute(m, ATTR.FINGERPRINT);
  if (!a || a.value.length !== 4 || a !== m.attributes.at(-1)) return false;
  return ((crc32(prefixFor(m, a, 8)) ^ FINGERPRINT_XOR) >>> 0) === a.value.readUInt32BE(0);
}

/**
 * The MESSAGE-INTEGRITY key. Short-term credentials use the password itself (RFC 8489 §9.1.1);
 * long-term ones, as TURN uses, MD5(username ":" realm ":" password) (§9.2.2), given here as
 * bytes. Passwords are used as given: SASLprep/OpaqueString is left out, since the registry's and
 * the TURN services' credentials are ASCII.
 */
export type IntegrityKey = string | Buffer;

export const longTermKey = (username: string, realm: string, password: string): Buffer => createHash("md5").update(`${username}:${realm}:${password}`).digest();

/** Whether the message carries a MESSAGE-INTEGRITY that `key` produced. Attributes after it (FINGERPRINT) are not covered. */
export function verifyIntegrity(m: StunMessage, key: IntegrityKey): boolean {
  const a = attribute(m, ATTR.MESSAGE_INTEGRITY);
  if (!a || a.value.length !== 20) return false;
  const mac = createHmac("sha1", key).update(prefixFor(m, a, 24)).digest();
  return mac.equals(a.value);
}

/** ERROR-CODE (RFC 8489 §14.8): the class in hundreds and the number, and the reason phrase. */
export function errorCode(m: StunMessage): { code: number; reason: string } | undefined {
  const a = attribute(m, ATTR.ERROR_CODE);
  if (!a || a.value.length < 4) return undefined;
  const code = (a.value[2]! & 0x07) * 100 + a.value[3]!;
  return { code, reason: a.value.subarray(4).toString("utf8") };
}

/** The 16 bytes XOR addresses are masked with: the magic cookie, then the transaction ID. */
function xorKey(transactionId: Buffer): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(key, 4);
  return key;
}

/** Decodes an XOR-…-ADDRESS value (XOR-MAPPED, and TURN's XOR-RELAYED and XOR-PEER). Throws StunError if malformed. */
export const decodeXorAddress = (value: Buffer, transactionId: Buffer): TransportAddress => decodeAddress(value, xorKey(transactionId));

/** Encodes an address as an XOR-…-ADDRESS value. */
export function encodeXorAddress(address: TransportAddress, transactionId: Buffer): Buffer {
  const ip = address.family === 4 ? ipv4Bytes(address.address) : ipv6Bytes(address.address);
  const value = Buffer.alloc(4 + ip.length);
  value[1] = address.family === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(address.port ^ (MAGIC_COOKIE >>> 16), 2);
  const key = xorKey(transactionId);
  for (let i = 0; i < ip.length; i++) value[4 + i] = ip[i]! ^ key[i]!;
  return value;
}

function decodeAddress(value: Buffer, xor: Buffer | null): TransportAddress {
  if (value.length < 4) throw new StunError("short address attribute");
  const family = value[1];
  let port = value.readUInt16BE(2);
  if (xor) port ^= MAGIC_COOKIE >>> 16;
  if (family === 0x01 && value.length === 8) {
    const ip = Buffer.from(value.subarray(4, 8));
    if (xor) for (let i = 0; i < 4; i++) ip[i]! ^= xor[i]!;
    return { address: Array.from(ip).join("."), port, family: 4 };
  }
  if (family === 0x02 && value.length === 20) {
    const ip = Buffer.from(value.subarray(4, 20));
    if (xor) for (let i = 0; i < 16; i++) ip[i]! ^= xor[i]!;
    const groups = Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(i * 2).toString(16));
    // The URL parser prints IPv6 in its canonical form (RFC 5952).
    return { address: new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1), port, family: 6 };
  }
  throw new StunError("unknown address family or length");
}

/** The mapped address a response carries: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS. */
export function mappedAddress(m: StunMessage): TransportAddress | undefined {
  const xored = attribute(m, ATTR.XOR_MAPPED_ADDRESS);
  if (xored) return decodeXorAddress(xored.value, m.transactionId);
  const plain = attribute(m, ATTR.MAPPED_ADDRESS);
  return plain && decodeAddress(plain.value, null);
}

export interface StunAttributeValue {
  type: number;
  value: Buffer;
}

/**
 * Encodes a message: its attributes (padded with zeros to 4 bytes), then MESSAGE-INTEGRITY if a
 * key is given, then FINGERPRINT unless told not to. Each covers the header with the length
 * counting through itself, as RFC 8489 §14.5 and §14.7 say.
 */
export function encodeStun(
  method: number,
  cls: StunClass,
  transactionId: Buffer,
  attributes: readonly StunAttributeValue[],
  { integrity, fingerprint = true }: { integrity?: IntegrityKey; fingerprint?: boolean } = {},
): Buffer {
  if (transactionId.length !== 12) throw new StunError("a transaction ID is 12 bytes");
  const body = Buffer.concat(
    attributes.map(({ type, value }) => {
      if (value.length > 0xffff) throw new StunError("attribute value too long");
      const head = Buffer.alloc(4);
      head.writeUInt16BE(type, 0);
      head.writeUInt16BE(value.length, 2);
      return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
    }),
  );
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE((method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | CLASS_BITS[cls], 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(header, 8);
  let message = Buffer.concat([header, body]);
  const append = (type: number, covering: number, value: (prefix: Buffer) => Buffer) => {
    message.writeUInt16BE(message.length - HEADER + covering, 2);
    const head = Buffer.alloc(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(covering - 4, 2);
    message = Buffer.concat([message, head, value(message)]);
  };
  if (integrity !== undefined) append(ATTR.MESSAGE_INTEGRITY, 24, (prefix) => createHmac("sha1", integrity).update(prefix).digest());
  if (fingerprint) {
    append(ATTR.FINGERPRINT, 8, (prefix) => {
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE((crc32(prefix) ^ FINGERPRINT_XOR) >>> 0);
      return crc;
    });
  }
  message.writeUInt16BE(message.length - HEADER, 2);
  if (message.length - HEADER > 0xffff) throw new StunError("message too long");
  return message;
}

export function bindingRequest(transactionId: Buffer = randomBytes(12)): Buffer {
  return encodeStun(METHOD_BINDING, "request", transactionId, []);
}

export function bindingSuccess(transactionId: Buffer, mapped: TransportAddress): Buffer {
  return encodeStun(METHOD_BINDING, "success", transactionId, [{ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(mapped, transactionId) }]);
}

function ipv4Bytes(address: string): Buffer {
  if (!isIPv4(address)) throw new StunError(`not an IPv4 address: ${address}`);
  return Buffer.from(address.split(".").map(Number));
}

function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address)) throw new StunError(`not an IPv6 address: ${address}`);
  const [head, tail] = address.split("::") as [string, string | undefined];
  const parts = (s: string | undefined) => (s ? s.split(":") : []);
  const groups = tail === undefined ? parts(head) : [...parts(head), ...Array(8 - parts(head).length - parts(tail).length).fill("0"), ...parts(tail)];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export const familyOf = (address: string): 4 | 6 => (isIPv4(address) ? 4 : 6);
