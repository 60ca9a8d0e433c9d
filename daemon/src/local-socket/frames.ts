/**
 * The local socket's framing. Every connection starts with JSON frames: a 4-byte big-endian
 * length, then that many bytes of UTF-8 JSON, at most 1 MiB (refused before it is buffered).
 * Requests are `{id, cmd, args}`; replies `{id, ok: true, data}` or `{id, ok: false, error: {code,
 * message, hint}}`; a command with events adds `{id, event}` frames. A connection that opens a
 * stream or a datagram connection (contract.ts) switches after its first request and reply to
 * binary frames: `u8 kind | u32 length (big-endian) | body`, whose kinds stream-frames.ts and
 * datagram-frames.ts define.
 */
import { ByteQueue } from "../byte-queue.ts";
import { PilotError } from "../errors.ts";

export const MAX_FRAME = 1 << 20;
export const BINARY_HEADER_BYTES = 5;
/** The most an error body in a binary frame may take. */
export const MAX_ERROR_BYTES = 4096;

export class FrameError extends Error {
  override name = "FrameError";
}

export interface ErrorBody {
  code: string;
  message: string;
  hint: string;
}

export interface RequestFrame {
  id: number;
  cmd: string;
  args: object;
}

export type ReplyFrame = { id: number | null } & ({ ok: true; data: unknown } | { ok: false; error: ErrorBody } | { event: unknown });

export function encodeFrame(value: RequestFrame | ReplyFrame): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  if (body.length > MAX_FRAME) throw new FrameError(`frame of ${body.length} bytes exceeds ${MAX_FRAME}`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Accumulates bytes from a stream and yields whole JSON frames, parsed. */
export class FrameReader {
  // The pieces as they came: a frame is copied out once it is whole, not the buffer re-joined per piece.
  readonly #bytes = new ByteQueue();

  append(chunk: Buffer): void {
    this.#bytes.push(chunk);
  }

  /** The next whole frame, or undefined; throws FrameError on an oversized frame or bad JSON. */
  next(): unknown {
    if (this.#bytes.length < 4) return undefined;
    const length = this.#bytes.slice(0, 4).readUInt32BE(0);
    if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes exceeds the ${MAX_FRAME}-byte limit`);
    if (this.#bytes.length < 4 + length) return undefined;
    this.#bytes.drop(4);
    const body = this.#bytes.take(length);
    try {
      return JSON.parse(body.toString("utf8"));
    } catch {
      throw new FrameError("frame is not JSON");
    }
  }

  /** Frames completed by `chunk`. */
  push(chunk: Buffer): unknown[] {
    this.append(chunk);
    const frames: unknown[] = [];
    for (let frame = this.next(); frame !== undefined; frame = this.next()) frames.push(frame);
    return frames;
  }

  /** Whatever follows the frames read so far (the first binary frames). */
  rest(): Buffer {
    return this.#bytes.take(this.#bytes.length);
  }
}

export function binaryHeader(kind: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(BINARY_HEADER_BYTES);
  h[0] = kind;
  h.writeUInt32BE(length, 1);
  return h;
}

/** An error as a binary frame carries it: JSON, shortened before encoding so it stays within MAX_ERROR_BYTES. */
export function encodeError(e: ErrorBody): Buffer {
  return Buffer.from(JSON.stringify({ code: e.code.slice(0, 64), message: e.message.slice(0, 1000), hint: e.hint.slice(0, 1000) }));
}

export function decodeError(bytes: Buffer): ErrorBody {
  let body: Partial<ErrorBody>;
  try {
    body = JSON.parse(bytes.toString("utf8")) as Partial<ErrorBody>;
  } catch {
    throw new FrameError("an error frame is not JSON");
  }
  return { code: String(body.code ?? "internal"), message: String(body.message ?? "request failed"), hint: String(body.hint ?? "") };
}

/** The error a program sees for an error the daemon reported. */
export const pilotError = (e: ErrorBody) => new PilotError(e.code, e.message, e.hint);
