/**
 * The receive side's sequence space: the next byte expected, the segments held beyond a gap, and
 * the SACK blocks that report them. Segments arrive here already counted against the receive
 * budget; whatever this does not keep (overlaps, repeats) it gives back.
 */
import { MAX_SACK_BLOCKS, type SackBlock } from "../../wire/segment.ts";
import { seqAdd, seqDiff, seqLt, seqLte } from "./seq.ts";

/** Where bytes go once they are in order, and where budget goes that is not needed. */
export interface ReassemblyOutput {
  deliver(data: Buffer): void;
  /** The peer's FIN is reached: nothing follows. */
  finish(): void;
  release(n: number): void;
}

/** A segment that arrived in order: the bytes it added, and whether data was held beyond it (it filled all or part of a gap). */
export interface InOrder {
  bytes: number;
  filledGap: boolean;
}

interface Held {
  seq: number;
  data: Buffer;
  fin: boolean;
}

export class Reassembly {
  /** The next sequence number expected: what the cumulative acknowledgement says. */
  next = 0;
  /** The peer's FIN has been reached in order. */
  finished = false;
  readonly #out: ReassemblyOutput;
  readonly #held: Held[] = [];
  #heldBytes = 0;
  #lastHeld = 0;

  constructor(out: ReassemblyOutput) {
    this.#out = out;
  }

  /** Bytes held beyond a gap. */
  get held(): number {
    return this.#heldBytes;
  }

  /** The peer's SYN: its data starts one after. */
  start(syn: number): void {
    this.next = seqAdd(syn, 1);
  }

  /** Nothing in the segment is new: it all lies before the next byte expected, or the FIN came already. */
  stale(seq: number, length: number, fin: boolean): boolean {
    return this.finished || seqDiff(seq, this.next) + length + (fin ? 1 : 0) <= 0;
  }

  /**
   * Takes a segment that is not stale, its bytes already counted against the budget. In order, it
   * is delivered with whatever it lets through; beyond a gap it is held (and null is returned).
   */
  take(seq: number, data: Buffer, fin: boolean): InOrder | null {
    const offset = seqDiff(seq, this.next);
    if (offset > 0) {
      this.#hold(seq, data, fin);
      return null;
    }
    if (offset < 0) {
      this.#out.release(-offset);
      data = data.subarray(-offset);
    }
    const filledGap = this.#held.length > 0;
    this.#accept(data, fin);
    this.#drain();
    return { bytes: data.length, filledGap };
  }

  /** Up to four ranges held beyond the gap: the one just added to first (RFC 2018 §4), then the highest. */
  sackBlocks(): SackBlock[] {
    if (this.#held.length === 0) return [];
    const ranges: SackBlock[] = [];
    for (const s of this.#held) {
      const end = seqAdd(s.seq, s.data.length + (s.fin ? 1 : 0));
      const last = ranges.at(-1);
      if (last && seqLte(s.seq, last.end)) {
        if (seqLt(last.end, end)) last.end = end;
      } else {
        ranges.push({ start: s.seq, end });
      }
    }
    const first = ranges.findIndex((r) => seqLte(r.start, this.#lastHeld) && seqLt(this.#lastHeld, r.end));
    const ordered = first >= 0 ? [ranges[first]!, ...ranges.filter((_, i) => i !== first).reverse()] : ranges.reverse();
    return ordered.slice(0, MAX_SACK_BLOCKS);
  }

  /** Forgets everything held; returns how many bytes that was. */
  clear(): number {
    const bytes = this.#heldBytes;
    this.#held.length = 0;
    this.#heldBytes = 0;
    return bytes;
  }

  /** The sequence number moves past the bytes (and the FIN) before they are handed on, so a handler that answers at once acknowledges them. */
  #accept(data: Buffer, fin: boolean): void {
    if (data.length) {
      this.next = seqAdd(this.next, data.length);
      this.#out.deliver(data);
    }
    if (fin) {
      this.next = seqAdd(this.next, 1);
      this.finished = true;
      this.#out.finish();
    }
  }

  /**
   * Keeps a segment that arrived beyond a gap. Only bytes not already held are kept (and counted):
   * overlapping segments cannot make us hold more than the window.
   */
  #hold(seq: number, data: Buffer, fin: boolean): void {
    const held = this.#held;
    let i = 0;
    while (i < held.length && seqLt(held[i]!.seq, seq)) i++;
    const prev = held[i - 1];
    const prevEnd = prev && seqAdd(prev.seq, prev.data.length);
    if (prevEnd !== undefined && seqLt(seq, prevEnd)) {
      const cut = Math.min(seqDiff(prevEnd, seq), data.length);
      this.#out.release(cut);
      data = data.subarray(cut);
      seq = seqAdd(seq, cut);
    }
    const end = seqAdd(seq, data.length);
    while (i < held.length && !held[i]!.fin && seqLte(seqAdd(held[i]!.seq, held[i]!.data.length), end)) {
      const covered = held.splice(i, 1)[0]!;
      this.#heldBytes -= covered.data.length;
      this.#out.release(covered.data.length);
    }
    const next = held[i];
    if (next && seqLt(next.seq, end)) {
      const cut = seqDiff(end, next.seq);
      this.#out.release(cut);
      data = data.subarray(0, data.length - cut);
      fin = false;
    }
    if (data.length === 0 && !fin) return;
    held.splice(i, 0, { seq, data, fin });
    this.#heldBytes += data.length;
    this.#lastHeld = seq;
  }

  /** Hands on what the last arrival made contiguous. The handlers may clear everything meanwhile (a reset): the loop reads the list afresh each time. */
  #drain(): void {
    while (this.#held.length && seqLte(this.#held[0]!.seq, this.next)) {
      const s = this.#held.shift()!;
      this.#heldBytes -= s.data.length;
      const skip = seqDiff(this.next, s.seq);
      if (skip > s.data.length || (skip === s.data.length && !s.fin) || this.finished) {
        this.#out.release(s.data.length);
        continue;
      }
      this.#out.release(skip);
      this.#accept(s.data.subarray(skip), s.fin);
    }
  }
}
