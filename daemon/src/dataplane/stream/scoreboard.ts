/**
 * The send side's record of the segments in flight: which the receiver has acknowledged or
 * SACKed, which are lost, and how many bytes are still in the network.
 *
 * Loss detection compares transmissions, not sequence numbers, as RACK (RFC 8985) and QUIC
 * (RFC 9002) do: a segment is lost once three segments sent after it have arrived, or once it is
 * 9/8 of a round trip older than one that has. A lost retransmission is found the same way.
 *
 * SACKed segments stay here, and their bytes in the send queue, until the cumulative
 * acknowledgement passes them: a receiver may renege on a SACK (RFC 2018 §8), so a SACK only
 * keeps a segment from being sent again, it never lets the sender forget it.
 */
import type { SackBlock } from "../../wire/segment.ts";
import type { RttEstimator } from "./rtt.ts";
import { seqAdd, seqDiff, seqLt, seqLte } from "./seq.ts";

const PACKET_THRESHOLD = 3;
const TIME_THRESHOLD = 9 / 8;

/** A segment in flight, in sequence space (a FIN counts one). */
export interface Sent {
  seq: number;
  len: number;
  fin: boolean;
  /** Transmission number of the latest send: later sends have higher numbers. */
  xmit: number;
  sentAt: number;
  xmits: number;
  sacked: boolean;
  lost: boolean;
}

/** What one acknowledgement newly delivered. */
export interface Delivery {
  bytes: number;
  /** The most recently transmitted of the segments delivered. */
  newest: Sent;
}

/** What a loss scan found. */
export interface LossScan {
  /** The send time of the newest segment it declared lost, if any. */
  newestLost: number | null;
  /** When to scan again: a segment may pass the time threshold then. */
  recheckAt: number | null;
}

export class Scoreboard {
  readonly #flight: Sent[] = [];
  #pipe = 0;
  #lost = 0;
  #xmits = 0;
  /** The highest transmission number known to have arrived. */
  #largestDelivered = 0;

  /** Bytes in flight that are neither SACKed nor declared lost. */
  get pipe(): number {
    return this.#pipe;
  }

  /** Segments declared lost and not yet sent again. */
  get lostCount(): number {
    return this.#lost;
  }

  /** Transmissions so far, first sends and retransmissions alike. */
  get transmissions(): number {
    return this.#xmits;
  }

  /** Something sent is not yet cumulatively acknowledged. */
  get outstanding(): boolean {
    return this.#flight.length > 0;
  }

  /** A new segment at the end of the flight, not yet transmitted. */
  push(seq: number, len: number, fin: boolean): Sent {
    const s: Sent = { seq, len, fin, xmit: 0, sentAt: 0, xmits: 0, sacked: false, lost: false };
    this.#flight.push(s);
    return s;
  }

  /** The segment goes out (again) at `now`: it is back in the pipe. */
  transmitted(s: Sent, now: number): void {
    if (s.xmits) this.#uncount(s);
    s.xmit = ++this.#xmits;
    s.sentAt = now;
    s.xmits++;
    this.#pipe += s.len;
  }

  /**
   * Takes an acknowledgement at `now`: segments below `ack` leave the flight, segments wholly
   * inside a SACK block are marked. Null if nothing was newly delivered. A segment sent again less
   * than `minRtt` before is delivered but says nothing of what else arrived: the ACK can only be
   * for an earlier sending (RFC 8985 §6.2), so it does not count as the newest arrival, which
   * would have declared lost everything sent before the resend.
   */
  acknowledge(ack: number, sack: readonly SackBlock[], now: number, minRtt: number): Delivery | null {
    let bytes = 0;
    let newest: Sent | undefined;
    let largest = 0;
    const take = (s: Sent) => {
      this.#uncount(s);
      bytes += s.len;
      if (!newest || s.xmit > newest.xmit) newest = s;
      // Without a round trip measured (minRtt Infinity) a resend cannot be judged, and counts.
      if (s.xmit > largest && (s.xmits === 1 || minRtt === Infinity || now - s.sentAt >= minRtt)) largest = s.xmit;
    };
    const flight = this.#flight;
    // The acknowledged head leaves in one splice: shifting segment by segment moved the whole
    // flight (thousands of segments at 1,500 bytes) once per segment.
    let acked = 0;
    while (acked < flight.length && seqLte(seqAdd(flight[acked]!.seq, flight[acked]!.len), ack)) {
      const s = flight[acked++]!;
      if (!s.sacked) take(s);
    }
    flight.splice(0, acked);
    // Our receivers acknowledge whole segments; a peer that acknowledges part of one gets its head trimmed.
    const head = flight[0];
    if (head && seqLt(head.seq, ack)) {
      const cut = seqDiff(ack, head.seq);
      if (!head.sacked && !head.lost) this.#pipe -= cut;
      head.seq = ack;
      head.len -= cut;
    }
    for (const block of sack) {
      // The flight is in sequence order: start at the first segment the block can cover.
      for (let i = this.#firstAtOrAfter(block.start); i < flight.length; i++) {
        const s = flight[i]!;
        if (seqLte(block.end, s.seq)) break;
        if (!s.sacked && seqLte(seqAdd(s.seq, s.len), block.end)) {
          s.sacked = true;
          take(s);
        }
      }
    }
    if (!newest) return null;
    this.#largestDelivered = Math.max(this.#largestDelivered, largest);
    return { bytes, newest };
  }

  /** Declares lost what the packet and time thresholds say is lost (RACK). */
  detectLoss(now: number, rtt: RttEstimator): LossScan {
    const delay = Math.max(1, TIME_THRESHOLD * Math.max(rtt.srtt, rtt.latest));
    const scan: LossScan = { newestLost: null, recheckAt: null };
    for (const s of this.#flight) {
      if (s.xmit >= this.#largestDelivered) {
        // Sent once, after everything known delivered: so was every segment behind it (only
        // retransmissions break the order), so the scan ends here.
        if (s.xmits === 1) break;
        continue;
      }
      if (s.sacked || s.lost) continue;
      // One expression for both: a scan at the time it asks for must find the segment overdue.
      const overdueAt = s.sentAt + delay;
      if (this.#largestDelivered - s.xmit >= PACKET_THRESHOLD || now >= overdueAt) {
        this.#markLost(s);
        scan.newestLost = Math.max(scan.newestLost ?? s.sentAt, s.sentAt);
      } else if (scan.recheckAt === null || overdueAt < scan.recheckAt) {
        scan.recheckAt = overdueAt;
      }
    }
    return scan;
  }

  /**
   * The retransmission timer expired: every segment not SACKed is lost. If the segment at the
   * cumulative acknowledgement is SACKed, the receiver has reneged (it holds everything before
   * that segment and would have acknowledged it): its SACKs no longer count, and everything in
   * flight is sent again (RFC 2018 §8; Linux does the same).
   */
  timeout(): void {
    const reneged = this.#flight[0]?.sacked === true;
    for (const s of this.#flight) {
      if (s.lost || (s.sacked && !reneged)) continue;
      if (!s.sacked) this.#markLost(s);
      else {
        // Not in the pipe (it had arrived), so only the lost count changes.
        s.sacked = false;
        s.lost = true;
        this.#lost++;
      }
    }
  }

  /**
   * The timeout at `timedOutAt` was spurious: segments declared lost and not sent since then are in
   * flight after all (those really lost are found again as later segments arrive).
   */
  undoTimeout(timedOutAt: number): void {
    for (const s of this.#flight) {
      if (!s.lost || s.sentAt >= timedOutAt) continue;
      s.lost = false;
      this.#lost--;
      this.#pipe += s.len;
    }
  }

  /**
   * The segments to send again, in sequence order, none with more than `maxData` bytes of data: one
   * sent when the path carried more is split first (path MTU discovery lowered the segment size).
   */
  *lost(maxData: number): Generator<Sent> {
    for (let i = 0; i < this.#flight.length; i++) {
      if (!this.#flight[i]!.lost) continue;
      this.#split(i, maxData);
      yield this.#flight[i]!;
    }
  }

  /** The last segment the receiver has not SACKed, split as `lost` does: what a tail-loss probe sends again. */
  lastUnsacked(maxData: number): Sent | undefined {
    const i = this.#flight.findLastIndex((s) => !s.sacked);
    if (i === -1) return undefined;
    return this.#flight[i + this.#split(i, maxData)]!;
  }

  /**
   * Splits the segment at `i` into pieces of at most `maxData` bytes of data (a FIN goes with the
   * last), each in the state the segment was in; returns how many pieces follow the first. The
   * pipe is unchanged: the pieces hold the same bytes.
   */
  #split(i: number, maxData: number): number {
    const s = this.#flight[i]!;
    const data = s.len - (s.fin ? 1 : 0);
    if (data <= maxData) return 0;
    const pieces: Sent[] = [];
    for (let offset = 0; offset < data; offset += maxData) {
      const last = offset + maxData >= data;
      pieces.push({ ...s, seq: seqAdd(s.seq, offset), len: Math.min(maxData, data - offset) + (last && s.fin ? 1 : 0), fin: last && s.fin });
    }
    this.#flight.splice(i, 1, ...pieces);
    if (s.lost) this.#lost += pieces.length - 1;
    return pieces.length - 1;
  }

  #firstAtOrAfter(seq: number): number {
    let [lo, hi] = [0, this.#flight.length];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLt(this.#flight[mid]!.seq, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Out of the pipe, first in line to be sent again. */
  #markLost(s: Sent): void {
    s.lost = true;
    this.#pipe -= s.len;
    this.#lost++;
  }

  /** Out of the counts (the pipe, or the lost), before a segment is delivered or sent again. */
  #uncount(s: Sent): void {
    if (!s.lost) return void (this.#pipe -= s.len);
    s.lost = false;
    this.#lost--;
  }
}
