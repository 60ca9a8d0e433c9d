/**
 * The payload of a stream packet (protocol 1): SACK blocks, then data.
 *
 *   u8 n (0–4) | n × (u32 start, u32 end) | data
 *
 * A block names a range of sequence numbers the receiver holds beyond its cumulative
 * acknowledgement, end exclusive (RFC 2018). Because the count always comes first, data can never
 * be mistaken for SACK blocks or the other way round.
 */
export const MAX_SACK_BLOCKS = 4;
const NO_BLOCKS = Buffer.alloc(1);

export interface SackBlock {
  start: number;
  end: number;
}

export interface Segment {
  sack: SackBlock[];
  data: Buffer;
}

/** The part of a payload before the data. */
export function sackHeader(blocks: readonly SackBlock[]): Buffer {
  if (blocks.length === 0) return NO_BLOCKS;
  const b = Buffer.allocUnsafe(1 + blocks.length * 8);
  b[0] = blocks.length;
  blocks.forEach((block, i) => {
    b.writeUInt32BE(block.start >>> 0, 1 + i * 8);
    b.writeUInt32BE(block.end >>> 0, 5 + i * 8);
  });
  return b;
}

/** Null for a malformed payload: no count, too many blocks, or blocks cut short. */
export function parseSegment(payload: Buffer): Segment | null {
  const n = payload[0];
  if (n === undefined || n > MAX_SACK_BLOCKS || payload.length < 1 + n * 8) return null;
  const sack: SackBlock[] = [];
  for (let i = 0; i < n; i++) sack.push({ start: payload.readUInt32BE(1 + i * 8), end: payload.readUInt32BE(5 + i * 8) });
  return { sack, data: payload.subarray(1 + n * 8) };
}
