/**
 * The common shape of the built-in services' wire formats: a small header read whole, then a
 * payload of a length the header gives, handed on in pieces as it arrives. Without I/O: bytes in,
 * events out. A payload is never gathered here (it may be up to 16 MiB), so what holds it, and how
 * much, is the service's choice.
 */

export type FrameEvent<Head> =
  | { kind: "head"; head: Head; length: number }
  | { kind: "data"; bytes: Buffer }
  | { kind: "end" }
  /** The header broke a rule: nothing more is read from this stream, which can no longer be framed. */
  | { kind: "bad"; reason: string };

/** What a format makes of the header bytes gathered so far: it needs more, reads them, or refuses them. */
export type HeaderRead<Head> = { need: number } | { head: Head; length: number } | { bad: string };

export class FrameDecoder<Head> {
  readonly #readHeader: (bytes: Buffer) => HeaderRead<Head>;
  #header = Buffer.alloc(0);
  /** Payload bytes still to come of the frame under way, or -1 while reading a header. */
  #remaining = -1;
  #broken = false;

  /**
   * `readHeader` sees every header byte gathered so far: it says how many it needs in all, or reads
   * the header once they are there.
   */
  constructor(readHeader: (bytes: Buffer) => HeaderRead<Head>) {
    this.#readHeader = readHeader;
  }

  /** Whether the stream would end cleanly, between frames, if it ended now. */
  get atBoundary(): boolean {
    return !this.#broken && this.#remaining === -1 && this.#header.length === 0;
  }

  push(chunk: Buffer): FrameEvent<Head>[] {
    const events: FrameEvent<Head>[] = [];
    let at = 0;
    while (!this.#broken) {
      if (this.#remaining > 0 && at < chunk.length) {
        const n = Math.min(this.#remaining, chunk.length - at);
        events.push({ kind: "data", bytes: chunk.subarray(at, at + n) });
        at += n;
        this.#remaining -= n;
      }
      if (this.#remaining === 0) {
        events.push({ kind: "end" });
        this.#remaining = -1;
      }
      if (this.#remaining > 0 || at === chunk.length) break;
      at = this.#takeHeader(chunk, at, events);
    }
    return events;
  }

  /** Gathers header bytes from `chunk` at `at` until the format reads or refuses them; returns where it stopped. */
  #takeHeader(chunk: Buffer, at: number, events: FrameEvent<Head>[]): number {
    for (;;) {
      const read = this.#readHeader(this.#header);
      if ("bad" in read) {
        this.#broken = true;
        events.push({ kind: "bad", reason: read.bad });
        return chunk.length;
      }
      if ("head" in read) {
        this.#header = Buffer.alloc(0);
        this.#remaining = read.length;
        events.push({ kind: "head", head: read.head, length: read.length });
        return at;
      }
      if (at === chunk.length) return at;
      const n = Math.min(read.need - this.#header.length, chunk.length - at);
      this.#header = Buffer.concat([this.#header, chunk.subarray(at, at + n)]);
      at += n;
    }
  }
}
