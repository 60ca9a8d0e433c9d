/**
 * The relay's wire format (docs/relay.md): sealed tunnel frames carried through the registry over a
 * WebSocket, for peers with no direct path. One binary WebSocket message holds one or more frames,
 * each `[u32 node][u16 length][length bytes]`, big-endian. From a daemon, `node` is where the frame
 * goes; from the registry, `node` is who sent it (the registry vouches for it: it authenticated the
 * sender's socket). Batching several frames in one message saves per-message cost on both sides.
 *
 * Plain bytes, no zod and no Buffer: the Worker and the daemon share it.
 */

/** Bytes before each frame: the node ID and the frame's length. */
export const RELAY_FRAME_HEADER_BYTES = 6;
/** The largest frame: a UDP datagram's payload cannot be larger either. */
export const RELAY_MAX_FRAME_BYTES = 65_535;
/** The largest message a daemon sends or the registry forwards; a batch is cut before this. */
export const RELAY_MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * The first four bytes of the only two tunnel frames daemons exchange (ASCII): a sealed packet and a
 * key exchange ("hello"). The registry relays nothing else, so the relay cannot carry any other
 * protocol between nodes.
 */
export const TUNNEL_MAGIC = { sealed: "PILS", hello: "PILA" } as const;

const MAGIC_BYTES = Object.values(TUNNEL_MAGIC).map((m) => Array.from(m, (c) => c.charCodeAt(0)));

/** Whether a frame starts with one of the tunnel magics. */
export function isTunnelFrame(frame: Uint8Array): boolean {
  return MAGIC_BYTES.some((magic) => frame.length >= magic.length && magic.every((b, i) => frame[i] === b));
}

export interface RelayFrame {
  node: number;
  frame: Uint8Array;
}

/** Encodes frames into one message; the caller keeps the total under RELAY_MAX_MESSAGE_BYTES. */
export function encodeRelayMessage(frames: readonly RelayFrame[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const f of frames) size += RELAY_FRAME_HEADER_BYTES + f.frame.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const { node, frame } of frames) {
    if (!Number.isInteger(node) || node < 0 || node > 0xffff_ffff) throw new RangeError(`relay node ${node} is not a 32-bit node ID`);
    if (frame.length === 0 || frame.length > RELAY_MAX_FRAME_BYTES) throw new RangeError(`relay frame of ${frame.length} bytes`);
    view.setUint32(at, node);
    view.setUint16(at + 4, frame.length);
    out.set(frame, at + RELAY_FRAME_HEADER_BYTES);
    at += RELAY_FRAME_HEADER_BYTES + frame.length;
  }
  return out;
}

/**
 * Decodes a message, or returns undefined if it is malformed: empty, too large, a frame of length
 * zero, or a frame running past the end. Frames are views into the message, not copies.
 */
export function decodeRelayMessage(message: Uint8Array): RelayFrame[] | undefined {
  if (message.length === 0 || message.length > RELAY_MAX_MESSAGE_BYTES) return undefined;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const frames: RelayFrame[] = [];
  let at = 0;
  while (at < message.length) {
    if (message.length - at < RELAY_FRAME_HEADER_BYTES) return undefined;
    const node = view.getUint32(at);
    const length = view.getUint16(at + 4);
    const start = at + RELAY_FRAME_HEADER_BYTES;
    if (length === 0 || start + length > message.length) return undefined;
    frames.push({ node, frame: message.subarray(start, start + length) });
    at = start + length;
  }
  return frames;
}
