/**
 * The local socket's framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
 * Frames over 1 MiB are refused before they are buffered.
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

/** Accumulates bytes from a stream and yields whole frames, parsed. */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  /** Frames completed by `chunk`; throws FrameError on an oversized frame or bad JSON. */
  push(chunk: Buffer): unknown[] {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const frames: unknown[] = [];
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUInt32BE(0);
      if (length > MAX_FRAME) throw new FrameError(`frame of ${length} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (this.#buffer.length < 4 + length) break;
      const body = this.#buffer.subarray(4, 4 + length);
      this.#buffer = this.#buffer.subarray(4 + length);
      try {
        frames.push(JSON.parse(body.toString("utf8")));
      } catch {
        throw new FrameError("frame is not JSON");
      }
    }
    return frames;
  }
}
