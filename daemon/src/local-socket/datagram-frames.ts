/**
 * Frames on a datagram connection over the local socket, after the JSON request `datagrams` that
 * opened it and its reply. Binary frames, as on a stream connection (frames.ts):
 *
 *   u8 kind | u32 length (big-endian) | body
 *   0 send      program → daemon: u32 ref | u16 port | u16 src_port (0: any) | u16 n | target
 *               (n bytes of UTF-8: node ID, Pilot address or hostname) | payload
 *   1 sent      daemon → program: u32 ref | u32 node_id: the datagram went into the tunnel to that node
 *   2 error     daemon → program: u32 ref | {code, message, hint} as JSON, at most 4 KiB: the
 *               datagram was not sent; ref 0: the connection itself failed, and closes
 *   3 datagram  daemon → program: u32 node_id | u16 src_port | u16 port | payload, one that arrived
 *               on the connection's port
 *
 * `ref` is the program's number for a send, from 1, which the daemon's answer repeats; a send
 * under ref 0 breaks the framing. Frames are read whole; a length its kind does not allow is
 * refused before it is buffered.
 */
import type { DatagramIn } from "../dataplane/datagrams.ts";
import { ByteQueue } from "../byte-queue.ts";
import { MAX_DATAGRAM, MAX_PAYLOAD } from "../wire/packet.ts";
import { BINARY_HEADER_BYTES, binaryHeader, decodeError, encodeError, FrameError, MAX_ERROR_BYTES, type ErrorBody } from "./frames.ts";

export const KIND = { send: 0, sent: 1, error: 2, datagram: 3 } as const;

const SEND_HEAD = 10;
const DATAGRAM_HEAD = 8;
/** The shortest and longest body of each kind. */
const LENGTHS: readonly (readonly [number, number])[] = [
  [SEND_HEAD, SEND_HEAD + 0xffff + MAX_DATAGRAM],
  [8, 8],
  [4, 4 + MAX_ERROR_BYTES],
  [DATAGRAM_HEAD, DATAGRAM_HEAD + MAX_PAYLOAD],
];

/** A send as the frame carries it; `srcPort` 0 lets the daemon pick one. */
export interface SendFields {
  ref: number;
  target: string;
  port: number;
  srcPort: number;
  payload: Buffer;
}

export function sendFrame(s: SendFields): Buffer {
  const target = Buffer.from(s.target);
  const head = Buffer.allocUnsafe(SEND_HEAD);
  head.writeUInt32BE(s.ref, 0);
  head.writeUInt16BE(s.port, 4);
  head.writeUInt16BE(s.srcPort, 6);
  head.writeUInt16BE(target.length, 8);
  return Buffer.concat([binaryHeader(KIND.send, SEND_HEAD + target.length + s.payload.length), head, target, s.payload]);
}

export function sentFrame(ref: number, nodeId: number): Buffer {
  const frame = binaryHeader(KIND.sent, 8);
  const body = Buffer.allocUnsafe(8);
  body.writeUInt32BE(ref, 0);
  body.writeUInt32BE(nodeId, 4);
  return Buffer.concat([frame, body]);
}

export function errorFrame(ref: number, e: ErrorBody): Buffer {
  const error = encodeError(e);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(ref, 0);
  return Buffer.concat([binaryHeader(KIND.error, 4 + error.length), head, error]);
}

export function datagramFrame(d: DatagramIn): Buffer {
  const head = Buffer.allocUnsafe(DATAGRAM_HEAD);
  head.writeUInt32BE(d.from, 0);
  head.writeUInt16BE(d.srcPort, 4);
  head.writeUInt16BE(d.dstPort, 6);
  return Buffer.concat([binaryHeader(KIND.datagram, DATAGRAM_HEAD + d.payload.length), head, d.payload]);
}

interface DatagramFrameHandlers {
  send(s: SendFields): void;
  sent(ref: number, nodeId: number): void;
  error(ref: number, e: ErrorBody): void;
  datagram(d: DatagramIn): void;
}

export class DatagramFrameReader {
  readonly #on: DatagramFrameHandlers;
  // The pieces as they came: a frame is copied out once it is whole, not the buffer re-joined per piece.
  readonly #bytes = new ByteQueue();

  constructor(handlers: DatagramFrameHandlers) {
    this.#on = handlers;
  }

  /** Hands each frame `chunk` completes to its handler; throws FrameError on an unknown kind or a length the kind does not allow. */
  push(chunk: Buffer): void {
    this.#bytes.push(chunk);
    while (this.#bytes.length >= BINARY_HEADER_BYTES) {
      const header = this.#bytes.slice(0, BINARY_HEADER_BYTES);
      const kind = header[0]!;
      const length = header.readUInt32BE(1);
      const allowed = LENGTHS[kind];
      if (!allowed) throw new FrameError(`unknown datagram frame kind ${kind}`);
      if (length < allowed[0] || length > allowed[1]) throw new FrameError(`a datagram frame of kind ${kind} is ${allowed[0]} to ${allowed[1]} bytes, not ${length}`);
      if (this.#bytes.length < BINARY_HEADER_BYTES + length) return;
      this.#bytes.drop(BINARY_HEADER_BYTES);
      this.#frame(kind, this.#bytes.take(length));
    }
  }

  #frame(kind: number, body: Buffer): void {
    if (kind === KIND.send) {
      const ref = body.readUInt32BE(0);
      // An answer under ref 0 would read as the whole connection failing.
      if (ref === 0) throw new FrameError("a send frame's ref is 1 or more; ref 0 is the daemon's error for the whole connection");
      const n = body.readUInt16BE(8);
      if (SEND_HEAD + n > body.length) throw new FrameError(`a send frame's target of ${n} bytes runs past its end`);
      const target = body.subarray(SEND_HEAD, SEND_HEAD + n).toString("utf8");
      return this.#on.send({ ref, port: body.readUInt16BE(4), srcPort: body.readUInt16BE(6), target, payload: body.subarray(SEND_HEAD + n) });
    }
    if (kind === KIND.sent) return this.#on.sent(body.readUInt32BE(0), body.readUInt32BE(4));
    if (kind === KIND.error) return this.#on.error(body.readUInt32BE(0), decodeError(body.subarray(4)));
    this.#on.datagram({ from: body.readUInt32BE(0), srcPort: body.readUInt16BE(4), dstPort: body.readUInt16BE(6), payload: body.subarray(DATAGRAM_HEAD) });
  }
}
