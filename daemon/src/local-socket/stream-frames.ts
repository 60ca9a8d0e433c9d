/**
 * Frames on a stream connection over the local socket, after the JSON request that opened it
 * (`dial` or `accept`) and its reply:
 *
 *   u8 kind | u32 length (big-endian) | bytes
 *   kind 0: data · 1: end (this side sends no more; length 0) · 2: error (daemon to program only;
 *   JSON {code, message, hint}, at most 4 KiB) · 3: credit (the length is a number of bytes the
 *   other side may send on top of what it was allowed so far; no bytes follow)
 *
 * Flow control is by credit both ways, and both ends always read their socket, so a credit, an end
 * or an error is never stuck behind data the other end is not taking. The daemon grants the
 * program room in the connection's send buffer as the peer acknowledges bytes (4 MiB at first); the
 * program grants the daemon what it has taken, and bytes not yet taken hold the connection's
 * receive window shut, so a slow program slows the peer. Data frames are passed on piece by piece
 * as bytes arrive, never buffered whole.
 */
import { BINARY_HEADER_BYTES, binaryHeader, decodeError, encodeError, FrameError, MAX_ERROR_BYTES, type ErrorBody } from "./frames.ts";

export const KIND = { data: 0, end: 1, error: 2, credit: 3 } as const;
/** Credit is granted in steps of at least this much, not a frame per piece of data. */
export const CREDIT_STEP = 256 * 1024;

export const END_FRAME = binaryHeader(KIND.end, 0);

export function errorFrame(e: ErrorBody): Buffer {
  const body = encodeError(e);
  return Buffer.concat([binaryHeader(KIND.error, body.length), body]);
}

interface StreamFrameHandlers {
  data(piece: Buffer): void;
  end(): void;
  error(e: ErrorBody): void;
  credit(bytes: number): void;
}

export class StreamFrameReader {
  readonly #on: StreamFrameHandlers;
  readonly #header = Buffer.alloc(BINARY_HEADER_BYTES);
  #have = 0;
  /** The kind of the frame being read, or -1 between frames. */
  #kind = -1;
  #left = 0;
  #errorParts: Buffer[] = [];

  constructor(handlers: StreamFrameHandlers) {
    this.#on = handlers;
  }

  /** Throws FrameError on an unknown kind or a length the kind does not allow. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#kind < 0) {
        const n = Math.min(BINARY_HEADER_BYTES - this.#have, chunk.length - at);
        chunk.copy(this.#header, this.#have, at, at + n);
        this.#have += n;
        at += n;
        if (this.#have < BINARY_HEADER_BYTES) return;
        this.#have = 0;
        const kind = this.#header[0]!;
        const length = this.#header.readUInt32BE(1);
        if (kind > KIND.credit) throw new FrameError(`unknown stream frame kind ${kind}`);
        if (kind === KIND.credit) {
          this.#on.credit(length);
          continue;
        }
        if (kind === KIND.end && length !== 0) throw new FrameError("an end frame carries no bytes");
        if (kind === KIND.error && length > MAX_ERROR_BYTES) throw new FrameError(`an error frame of ${length} bytes exceeds ${MAX_ERROR_BYTES}`);
        this.#kind = kind;
        this.#left = length;
      }
      const n = Math.min(this.#left, chunk.length - at);
      if (n > 0) {
        const piece = chunk.subarray(at, at + n);
        at += n;
        this.#left -= n;
        if (this.#kind === KIND.data) this.#on.data(piece);
        else this.#errorParts.push(piece);
      }
      if (this.#left === 0) this.#complete();
    }
  }

  #complete(): void {
    const kind = this.#kind;
    this.#kind = -1;
    if (kind === KIND.end) return this.#on.end();
    if (kind !== KIND.error) return;
    const body = Buffer.concat(this.#errorParts);
    this.#errorParts = [];
    this.#on.error(decodeError(body));
  }
}
