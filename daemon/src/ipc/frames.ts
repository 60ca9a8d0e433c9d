/**
 * The local socket's framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
 * Frames over 1 MiB are refused before they are buffered. A connection that opens a stream
 * (dial, accept) switches to stream frames (stream-frames.ts) after its first request and reply.
 */
export const MAX_FRAME = 1 << 20;

export class FrameError extends Error {
  override name = "FrameError";
}

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  if (body.length > MAX_FRAME) throw new FrameError(`frame of ${body.length} bytes exceeds ${MAX_FRAME}`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

const EMPTY = Buffer.alloc(0);

/** Accumulates bytes from a stream and yields whole frames, parsed. */
export class FrameReader {
  #buffer: Buffer = EMPTY;

  append(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
  }

  /** The next whole frame, or undefined; throws FrameError on an oversized frame or bad JSON. */
  next(): unknown {
    if (this.#buffer.length < 4) return undefined;
    const length = this.#buffer.readUInt32BE(0);
    if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes exceeds the ${MAX_FRAME}-byte limit`);
    if (this.#buffer.length < 4 + length) return undefined;
    const body = this.#buffer.subarray(4, 4 + length);
    this.#buffer = this.#buffer.subarray(4 + length);
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

  /** Whatever follows the frames read so far (a stream's first bytes). */
  rest(): Buffer {
    const rest = this.#buffer;
    this.#buffer = EMPTY;
    return rest;
  }
}
