/**
 * The receive side of a connection: it takes the peer's data into reassembly, decides when an
 * acknowledgement is owed (at once, or after a short delay), and says what every outgoing packet
 * acknowledges and how much window it offers.
 *
 * ACKs: at least every two segments or 64 KiB, at once for anything out of order, a filled gap, a
 * FIN or a repeat, otherwise after at most DELAYED_ACK_MS. Any packet that goes out carries the
 * acknowledgement, so it settles whatever was owed.
 *
 * The window is the buffer less what the program has not read, in KiB. Out-of-order data lies
 * inside the window already offered, so it does not shrink it (and the window bounds it): the
 * right edge moves only forward, as the program reads.
 *
 * The buffer grows on a long path (window auto-tuning, the rule quic-go's flow control uses): a
 * stream moves at most one window per round trip, so 4 MiB held a 100 ms path to 40 MB/s. When
 * the program takes more than half the buffer in less than two round trips (scaled by the share
 * taken), the window, not the program, is what holds the stream back, and the buffer doubles, up
 * to `maxBuffer`. On a short path a window's worth takes many round trips to read, so it stays.
 */
import type { SackBlock } from "../../wire/segment.ts";
import { Reassembly } from "./reassembly.ts";
import { seqAdd, seqDiff, seqLt, seqLte } from "./seq.ts";

/** The unit of the window field: a packet offers `window × WINDOW_UNIT` bytes. */
export const WINDOW_UNIT = 1024;
const MAX_WINDOW_UNITS = 0xffff;
/** The longest an acknowledgement waits for a second segment to share it. */
export const DELAYED_ACK_MS = 20;
/** Received bytes that are acknowledged at once, whatever the segment count. */
const ACK_EVERY_BYTES = 65_536;

export interface ReceiverSettings {
  /** The path's segment size now (it follows path MTU discovery). */
  mss: () => number;
  /** The receive buffer a connection starts with. */
  receiveBuffer: number;
  /** The most the receive buffer grows to on a long path, and the send buffer with it (sender.ts). */
  maxBuffer: number;
}

/** What the receive side asks of the engine around it. */
export interface ReceiverOutput {
  /** In-order data for the program. It counts as unread until `consumed`. */
  deliver(data: Buffer): void;
  /** The peer's FIN is reached: nothing follows. */
  finish(): void;
  /** Takes `n` bytes from the receive budget; false if it is spent. */
  reserve(n: number): boolean;
  release(n: number): void;
  /** An acknowledgement is owed: send one at the end of this turn. */
  ackSoon(): void;
  /** The delayed acknowledgement's time has come: send it now. */
  ackNow(): void;
}

/** What a packet going out says for the receive side. */
export interface Acknowledgement {
  /** The next sequence number expected. */
  next: number;
  /** The window offered, in units of WINDOW_UNIT. */
  window: number;
  sack: SackBlock[];
}

export class Receiver {
  bytesReceived = 0;
  readonly #out: ReceiverOutput;
  readonly #s: ReceiverSettings;
  readonly #in: Reassembly;
  readonly #rtt: { readonly srtt: number };
  /** The receive buffer now: it starts at `receiveBuffer` and may grow to `maxBuffer`. */
  #buffer: number;
  /** Bytes the program has taken in all. */
  #taken = 0;
  /** When auto-tuning's present measure began (-1: at the first data), and `#taken` then. */
  #epochAt = -1;
  #epochTaken = 0;
  /** The furthest right edge ever offered: data up to it is accepted. */
  #advertisedEdge = 0;
  /** Bytes handed to the program (or waiting for it) that it has not consumed yet. */
  #unread = 0;
  /** Bytes received in order since the last ACK went out. */
  #ackOwed = 0;
  #ackDue = false;
  #ackAt = 0;

  /** `rtt`: the connection's round-trip estimate, whose handshake sample is enough for a receiver. */
  constructor(out: ReceiverOutput, settings: ReceiverSettings, rtt: { readonly srtt: number }) {
    this.#out = out;
    this.#s = settings;
    this.#rtt = rtt;
    this.#buffer = settings.receiveBuffer;
    this.#in = new Reassembly({
      deliver: (data) => {
        this.#unread += data.length;
        this.bytesReceived += data.length;
        out.deliver(data);
      },
      finish: () => out.finish(),
      release: (n) => out.release(n),
    });
  }

  /** The peer's SYN: its data starts one after, and the window is offered from there. */
  start(syn: number): void {
    this.#in.start(syn);
    this.#advertisedEdge = this.#in.next;
  }

  /** The next sequence number expected. */
  get next(): number {
    return this.#in.next;
  }

  /** The peer's FIN has been reached in order. */
  get finished(): boolean {
    return this.#in.finished;
  }

  /** Bytes held beyond a gap. */
  get held(): number {
    return this.#in.held;
  }

  get unread(): number {
    return this.#unread;
  }

  /** The receive buffer now, as auto-tuning has grown it. */
  get buffer(): number {
    return this.#buffer;
  }

  /** The window in bytes, as the next packet would offer it. */
  get window(): number {
    return this.#windowUnits() * WINDOW_UNIT;
  }

  /** An acknowledgement is owed and no packet has carried it yet. */
  get owesAck(): boolean {
    return this.#ackDue;
  }

  /** The delayed acknowledgement's deadline, or 0. */
  get deadline(): number {
    return this.#ackAt;
  }

  /** Sends the delayed acknowledgement if its time has come. */
  onTimeout(now: number): void {
    if (!this.#ackAt || this.#ackAt > now) return;
    this.#ackAt = 0;
    this.#ackDue = true;
    this.#out.ackNow();
  }

  /** Asks for an acknowledgement at the end of the turn. */
  ackSoon(): void {
    this.#ackDue = true;
    this.#out.ackSoon();
  }

  /** Lingering: acknowledgements go only at once, answering a peer that repeats itself. */
  cancelDelayedAck(): void {
    this.#ackAt = 0;
  }

  /** A sequence number in the window offered: only a RST there is believed, so a stray or forged one elsewhere does nothing. */
  inWindow(seq: number): boolean {
    return seqLte(this.#in.next, seq) && seqLte(seq, seqAdd(this.#advertisedEdge, 1));
  }

  /** A packet's data and FIN; a packet without either that lies behind (a window probe) is answered. */
  receive(seq: number, data: Buffer, fin: boolean, now: number): void {
    if (data.length || fin) this.#take(seq, data, fin, now);
    else if (seqLt(seq, this.#in.next)) this.ackSoon();
  }

  #take(seq: number, data: Buffer, fin: boolean, now: number): void {
    if (this.#in.stale(seq, data.length, fin)) return this.ackSoon();
    // Nothing beyond the window we offered is kept: it bounds what a peer can make us hold.
    if (seqLt(this.#advertisedEdge, seqAdd(seq, data.length)) || !this.#out.reserve(data.length)) return this.ackSoon();
    const arrival = this.#in.take(seq, data, fin);
    if (!arrival) return this.ackSoon();
    if (this.#buffer < this.#s.maxBuffer) this.#tune(now);
    this.#ackOwed += arrival.bytes;
    if (arrival.filledGap || this.#in.finished || this.#ackOwed >= Math.min(2 * this.#s.mss(), ACK_EVERY_BYTES)) this.ackSoon();
    else this.#ackAt = now + DELAYED_ACK_MS;
  }

  /**
   * The program has taken `n` bytes: their budget goes back. True if the window has opened by a
   * quarter of the buffer since it was last offered, which is worth telling the peer at once.
   */
  consumed(n: number): boolean {
    this.#unread -= n;
    this.#taken += n;
    this.#out.release(n);
    const edge = seqAdd(this.#in.next, this.#windowUnits() * WINDOW_UNIT);
    return seqDiff(edge, this.#advertisedEdge) >= this.#buffer / 4;
  }

  /**
   * Auto-tuning, checked as data arrives: doubles the buffer when the program took more than half
   * of it in less than 4 × (the share taken) round trips.
   */
  #tune(now: number): void {
    const taken = this.#taken - this.#epochTaken;
    if (this.#epochAt >= 0 && taken <= this.#buffer / 2) return;
    // Without a round-trip sample (the handshake's SYN went more than once) nothing grows.
    const srtt = this.#rtt.srtt;
    if (this.#epochAt >= 0 && srtt > 0 && now - this.#epochAt < (4 * taken * srtt) / this.#buffer) this.#buffer = Math.min(2 * this.#buffer, this.#s.maxBuffer);
    this.#epochAt = now;
    this.#epochTaken = this.#taken;
  }

  /** What the next packet out carries: it settles any acknowledgement owed, and offers the window. */
  acknowledgement(withSack: boolean): Acknowledgement {
    this.#ackOwed = 0;
    this.#ackDue = false;
    this.#ackAt = 0;
    const window = this.#windowUnits();
    // Data up to the furthest edge ever offered is accepted (RFC 9293 §3.8.6), even where rounding
    // to KiB offers up to 1,023 bytes less in a later packet. (Before the peer's SYN there is no
    // edge yet: `start` sets it afresh.)
    const edge = seqAdd(this.#in.next, window * WINDOW_UNIT);
    if (seqLt(this.#advertisedEdge, edge)) this.#advertisedEdge = edge;
    return { next: this.#in.next, window, sack: withSack ? this.#in.sackBlocks() : [] };
  }

  /** The connection is gone: everything held or unread goes back to the budget. */
  clear(): void {
    this.#out.release(this.#in.clear() + this.#unread);
    this.#unread = 0;
  }

  #windowUnits(): number {
    const free = this.#buffer - this.#unread;
    return Math.max(0, Math.min(MAX_WINDOW_UNITS, Math.floor(free / WINDOW_UNIT)));
  }
}
