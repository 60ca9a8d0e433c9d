/**
 * Bytes as the chunks they arrived in: slicing copies only when a slice spans two chunks. It holds
 * what a connection has been given to send and the peer has not yet acknowledged, and what the
 * local socket's frame readers have of frames not yet whole.
 */
export class ByteQueue {
  readonly #chunks: Buffer[] = [];
  /** Bytes of the first chunk already dropped. */
  #head = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /** `n` bytes starting `offset` bytes in. */
  slice(offset: number, n: number): Buffer {
    let i = 0;
    let at = offset + this.#head;
    while (at >= this.#chunks[i]!.length) at -= this.#chunks[i++]!.length;
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
    while (n > 0 && n >= this.#chunks[0]!.length) n -= this.#chunks.shift()!.length;
    this.#head = this.#chunks.length ? n : 0;
  }
}
