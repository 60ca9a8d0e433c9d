/**
 * The Pilot packet header, version 2: 30 bytes, big-endian, followed by the payload.
 *
 *   0  version<<4 | flags     1  protocol (1 stream, 2 datagram, 3 control)
 *   2  payload length         4  source address (u16 network, u32 node)
 *  10  destination address   16  source port       18  destination port
 *  20  sequence              24  acknowledgement   28  window
 *
 * Version 1 had four more bytes, a CRC-32 of the packet. Packets travel only inside AES-GCM frames,
 * whose tag already proves every bit of them, so the checksum caught nothing and cost 3 % of a
 * daemon's time at 1,500-byte packets. Version 2 is the only one accepted: a packet of another
 * version is refused with its version named (PacketVersionError), so a daemon can tell its owner
 * that the peer runs an incompatible release rather than drop its traffic unexplained.
 */
import type { PilotAddress } from "@pilot/protocol";

export const HEADER_BYTES = 30;
export const VERSION = 2;
export const PROTOCOL = { stream: 1, datagram: 2, control: 3 } as const;
export const FLAG = { syn: 0x1, ack: 0x2, fin: 0x4, rst: 0x8 } as const;
export const MAX_PAYLOAD = 0xffff;
/** Largest datagram payload: its packet, sealed, stays within one 64 KiB UDP datagram. */
export const MAX_DATAGRAM = 60_000;
/** The built-in echo service's port (as in the Pilot command set). */
export const ECHO_PORT = 7;

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

/** A packet of a version this daemon does not speak: from a peer running an incompatible release. */
export class PacketVersionError extends PacketError {
  override name = "PacketVersionError";
  readonly version: number;

  constructor(version: number) {
    super(`packet version ${version} is not ${VERSION}`);
    this.version = version;
  }
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
  return [out, ...parts.filter((part) => part.length > 0)];
}

export const encodePacket = (p: PacketFields): Buffer => Buffer.concat(packetParts(p));

export function decodePacket(b: Buffer): Packet {
  if (b.length < HEADER_BYTES) throw new PacketError("shorter than a header");
  if (b[0]! >> 4 !== VERSION) throw new PacketVersionError(b[0]! >> 4);
  const length = b.readUInt16BE(2);
  if (b.length !== HEADER_BYTES + length) throw new PacketError("payload length does not match");
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
