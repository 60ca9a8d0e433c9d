/**
 * The Pilot v1 packet header: 34 bytes, big-endian, followed by the payload.
 *
 *   0  version<<4 | flags     1  protocol (1 stream, 2 datagram, 3 control)
 *   2  payload length         4  source address (u16 network, u32 node)
 *  10  destination address   16  source port       18  destination port
 *  20  sequence              24  acknowledgement   28  window
 *  30  CRC-32 (IEEE) of the header with this field zeroed, then the payload
 *
 * Packets travel only inside encrypted tunnel frames; the checksum catches our own bugs, the AEAD
 * catches everything else. Version 1 is the only one accepted.
 */
import { crc32 } from "node:zlib";
import type { PilotAddress } from "@pilot/protocol";

export const HEADER_BYTES = 34;
export const VERSION = 1;
export const PROTOCOL = { stream: 1, datagram: 2, control: 3 } as const;
export const FLAG = { syn: 0x1, ack: 0x2, fin: 0x4, rst: 0x8 } as const;
export const MAX_PAYLOAD = 0xffff;
/** Largest datagram payload: its packet, sealed, stays within one 64 KiB UDP datagram. */
export const MAX_DATAGRAM = 60_000;
/** The built-in echo service's port (as in the Pilot command set). */
export const ECHO_PORT = 7;
const ZERO_SUM = Buffer.alloc(4);

export interface Packet {
  flags: number;
  protocol: number;
  src: PilotAddress;
  dst: PilotAddress;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  window: number;
  payload: Buffer;
}

export class PacketError extends Error {
  override name = "PacketError";
}

/** What a packet is made from: the payload may come in parts (a stream's SACK blocks, then data). */
export type PacketFields = Omit<Packet, "payload"> & { payload: Buffer | readonly Buffer[] };

/**
 * A packet as its header followed by the payload's parts, uncopied: the sealing step encrypts them
 * in turn and the socket sends the pieces together, so a 64 KiB segment is never copied on the way.
 */
export function packetParts(p: PacketFields): Buffer[] {
  const parts = Buffer.isBuffer(p.payload) ? [p.payload] : p.payload;
  let length = 0;
  for (const part of parts) length += part.length;
  if (length > MAX_PAYLOAD) throw new PacketError(`payload of ${length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = Buffer.allocUnsafe(HEADER_BYTES);
  out[0] = (VERSION << 4) | (p.flags & 0x0f);
  out[1] = p.protocol;
  out.writeUInt16BE(length, 2);
  out.writeUInt16BE(p.src.network, 4);
  out.writeUInt32BE(p.src.node, 6);
  out.writeUInt16BE(p.dst.network, 10);
  out.writeUInt32BE(p.dst.node, 12);
  out.writeUInt16BE(p.srcPort, 16);
  out.writeUInt16BE(p.dstPort, 18);
  out.writeUInt32BE(p.seq >>> 0, 20);
  out.writeUInt32BE(p.ack >>> 0, 24);
  out.writeUInt16BE(p.window, 28);
  out.writeUInt32BE(0, 30);
  let sum = crc32(out);
  for (const part of parts) sum = crc32(part, sum);
  out.writeUInt32BE(sum, 30);
  return [out, ...parts.filter((part) => part.length > 0)];
}

export const encodePacket = (p: PacketFields): Buffer => Buffer.concat(packetParts(p));

export function decodePacket(b: Buffer): Packet {
  if (b.length < HEADER_BYTES) throw new PacketError("shorter than a header");
  if (b[0]! >> 4 !== VERSION) throw new PacketError(`version ${b[0]! >> 4} is not 1`);
  const length = b.readUInt16BE(2);
  if (b.length !== HEADER_BYTES + length) throw new PacketError("payload length does not match");
  // The checksum is computed with its own field zeroed: header, four zero bytes, payload.
  if (crc32(b.subarray(HEADER_BYTES), crc32(ZERO_SUM, crc32(b.subarray(0, 30)))) !== b.readUInt32BE(30)) {
    throw new PacketError("checksum mismatch");
  }
  const protocol = b[1]!;
  if (protocol < 1 || protocol > 3) throw new PacketError(`unknown protocol ${protocol}`);
  return {
    flags: b[0]! & 0x0f,
    protocol,
    src: { network: b.readUInt16BE(4), node: b.readUInt32BE(6) },
    dst: { network: b.readUInt16BE(10), node: b.readUInt32BE(12) },
    srcPort: b.readUInt16BE(16),
    dstPort: b.readUInt16BE(18),
    seq: b.readUInt32BE(20),
    ack: b.readUInt32BE(24),
    window: b.readUInt16BE(28),
    payload: b.subarray(HEADER_BYTES),
  };
}
