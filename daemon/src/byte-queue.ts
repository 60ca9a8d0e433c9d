/**
 * Bytes as the chunks they arrived in: slicing copies only when a slice spans two chunks. It holds
 * what a connection has been given to send and the peer has not yet acknowledged, and what the
 * local socket's frame readers have of frames not yet whole.
 */
export class ByteQueue {
  readonly #chunks: Buffer[] = [];
  /** Bytes of the first chunk already dropped. */
  #head = 0;
  /**
   * Where the last slice began: a chunk's index and its first byte's offset from the first chunk's
   * start. A sender slices each new segment just past the last, and with a long path's window in
   * flight the queue holds hundreds of chunks: walking from the first each time cost a few percent
   * of the sending daemon.
   */
  #cursor = 0;
  #cursorAt = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /** `n` bytes starting `offset` bytes in. */
  slice(offset: number, n: number): Buffer {
    let at = offset + this.#head;
    let i = 0;
    if (at >= this.#cursorAt) {
      i = this.#cursor;
      at -= this.#cursorAt;
    }
    while (at >= this.#chunks[i]!.length) at -= this.#chunks[i++]!.length;
    this.#cursor = i;
    this.#cursorAt = offset + this.#head - at;
    const first = this.#chunks[i]!;
    if (at + n <= first.length) return first.subarray(at, at + n);
    const out = Buffer.allocUnsafe(n);
    let filled = first.copy(out, 0, at);
    while (filled < n) filled += this.#chunks[++i]!.copy(out, filled, 0, n - filled);
    return out;
  }

  /** The first `n` bytes, forgotten. */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const bytes = this.slice(0, n);
    this.drop(n);
    return bytes;
  }

  /** Forgets the first `n` bytes. */
  drop(n: number): void {
    this.length -= n;
    n += this.#head;
    while (n > 0 && n >= this.#chunks[0]!.length) {
      const gone = this.#chunks.shift()!.length;
      n -= gone;
      this.#cursor--;
      this.#cursorAt -= gone;
    }
    this.#head = this.#chunks.length ? n : 0;
    if (this.#cursor < 0) this.#cursor = this.#cursorAt = 0;
  }
}
