/**
 * TURN's messages (RFC 8656) on top of the STUN format in ../stun.ts: its methods and attributes,
 * and ChannelData, the 4-byte-header framing of data on a bound channel. Pure functions of bytes;
 * the client that uses them is client.ts.
 */
import { isIPv4 } from "node:net";
import { attribute, ATTR, decodeXorAddress, encodeXorAddress, StunError, type StunAttributeValue, type StunMessage, type TransportAddress } from "../stun.ts";

export const METHOD = {
  ALLOCATE: 0x003,
  REFRESH: 0x004,
  SEND: 0x006,
  DATA: 0x007,
  CREATE_PERMISSION: 0x008,
  CHANNEL_BIND: 0x009,
} as const;

export const TURN_ATTR = {
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
} as const;

/** Channel numbers a client may bind (RFC 8656 §12): 0x4000 through 0x4FFF. */
export const FIRST_CHANNEL = 0x4000;
export const LAST_CHANNEL = 0x4fff;
const CHANNEL_HEADER = 4;
/** IANA's protocol number for UDP, the only transport REQUESTED-TRANSPORT asks for here. */
const PROTOCOL_UDP = 17;

/** A peer as TURN addresses it: an IPv4 address and port (the relayed addresses asked for are IPv4). */
export interface Peer {
  address: string;
  port: number;
}

export const peerKey = (p: Peer) => `${p.address}:${p.port}`;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export const text = (type: number, value: string): StunAttributeValue => ({ type, value: Buffer.from(value, "utf8") });
export const lifetime = (seconds: number): StunAttributeValue => ({ type: TURN_ATTR.LIFETIME, value: u32(seconds) });
export const requestedTransportUdp = (): StunAttributeValue => ({ type: TURN_ATTR.REQUESTED_TRANSPORT, value: Buffer.from([PROTOCOL_UDP, 0, 0, 0]) });
export const data = (bytes: Buffer): StunAttributeValue => ({ type: TURN_ATTR.DATA, value: bytes });

export function channelNumber(channel: number): StunAttributeValue {
  const value = Buffer.alloc(4);
  value.writeUInt16BE(channel, 0);
  return { type: TURN_ATTR.CHANNEL_NUMBER, value };
}

export function xorPeerAddress(peer: Peer, transactionId: Buffer): StunAttributeValue {
  if (!isIPv4(peer.address)) throw new StunError(`TURN peers are IPv4 here: ${peer.address}`);
  return { type: TURN_ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress({ ...peer, family: 4 }, transactionId) };
}

/** An XOR address attribute of the message, or undefined if absent; throws StunError if malformed. */
export function xorAddressOf(m: StunMessage, type: number): TransportAddress | undefined {
  const a = attribute(m, type);
  return a && decodeXorAddress(a.value, m.transactionId);
}

/** LIFETIME in seconds, or undefined if absent or malformed. */
export function lifetimeOf(m: StunMessage): number | undefined {
  const a = attribute(m, TURN_ATTR.LIFETIME);
  return a?.value.length === 4 ? a.value.readUInt32BE(0) : undefined;
}

export function textOf(m: StunMessage, type: number): string | undefined {
  return attribute(m, type)?.value.toString("utf8");
}

/**
 * The message as far as MESSAGE-INTEGRITY covers it: RFC 8489 §14.5 has agents ignore every
 * attribute after it but FINGERPRINT, which anyone on the path could have appended.
 */
export function coveredByIntegrity(m: StunMessage): StunMessage {
  const at = m.attributes.findIndex((a) => a.type === ATTR.MESSAGE_INTEGRITY);
  return at < 0 ? m : { ...m, attributes: m.attributes.slice(0, at + 1) };
}

/** Whether a datagram is ChannelData by its first byte (0x40 to 0x4F: the top bits 01, a channel number). */
export const looksLikeChannelData = (b: Buffer) => b.length >= CHANNEL_HEADER && b[0]! >= 0x40 && b[0]! <= 0x4f;

export function encodeChannelData(channel: number, payload: Buffer): Buffer {
  if (channel < FIRST_CHANNEL || channel > LAST_CHANNEL) throw new RangeError(`channel ${channel} is outside 0x4000–0x4FFF`);
  if (payload.length > 0xffff) throw new RangeError(`ChannelData of ${payload.length} bytes`);
  const head = Buffer.alloc(CHANNEL_HEADER);
  head.writeUInt16BE(channel, 0);
  head.writeUInt16BE(payload.length, 2);
  // Over UDP no padding is needed (RFC 8656 §12.5): the datagram ends the message.
  return Buffer.concat([head, payload]);
}

/**
 * ChannelData's channel and payload, or undefined if malformed: a channel number outside the
 * bindable range, or a length longer than the datagram. Bytes past the length are padding a
 * server may add, and ignored.
 */
export function decodeChannelData(b: Buffer): { channel: number; payload: Buffer } | undefined {
  if (!looksLikeChannelData(b)) return undefined;
  const channel = b.readUInt16BE(0);
  const length = b.readUInt16BE(2);
  if (channel > LAST_CHANNEL || CHANNEL_HEADER + length > b.length) return undefined;
  return { channel, payload: b.subarray(CHANNEL_HEADER, CHANNEL_HEADER + length) };
}
