/**
 * Congestion control, behind one interface so that the connection does not depend on the
 * algorithm: it asks whether a segment may go now, and reports what was delivered, what was lost
 * and when the retransmission timer expired. Times are the caller's clock, in milliseconds.
 */
export interface CongestionControl {
  /** The congestion window, in bytes (for listings). */
  readonly cwnd: number;
  /** The slow-start threshold, in bytes; Infinity until the first reduction (for listings). */
  readonly ssthresh: number;
  /** May `bytes` more go out while `inFlight` bytes are in the network? */
  canSend(inFlight: number, bytes: number): boolean;
  /** `bytes` arrived (acknowledged or SACKed); the newest of them was sent at `sentAt`, and `inFlight` bytes are still out. */
  onDelivered(bytes: number, sentAt: number, inFlight: number, now: number): void;
  /** Segments were declared lost, the newest of them sent at `sentAt`. True if this began a loss episode. */
  onLoss(sentAt: number, now: number): boolean;
  /** The retransmission timer expired with `flightSize` bytes outstanding. */
  onTimeout(flightSize: number, now: number): void;
}

/**
 * NewReno-style (RFC 5681) with byte counting: the initial window of RFC 6928, slow start,
 * congestion avoidance, one halving per loss episode, one segment after a timeout.
 */
export class NewReno implements CongestionControl {
  cwnd: number;
  ssthresh = Infinity;
  /** The segment size now: it follows the path's MTU, so the window's arithmetic does too. */
  readonly #mss: () => number;
  /** When the current loss episode (or timeout) began: losses of segments sent before it belong to it. */
  #recoveryStart = -Infinity;

  constructor(mss: () => number) {
    this.#mss = mss;
    const size = mss();
    this.cwnd = Math.min(10 * size, Math.max(2 * size, 14_600));
  }

  /** With nothing in flight one segment always goes, whatever the window. */
  canSend(inFlight: number, bytes: number): boolean {
    return inFlight === 0 || inFlight + bytes <= this.cwnd;
  }

  onDelivered(bytes: number, sentAt: number, inFlight: number): void {
    // No growth during a loss episode, nor when the program, not the window, limits the flight.
    if (sentAt <= this.#recoveryStart || inFlight + bytes < this.cwnd / 2) return;
    if (this.cwnd < this.ssthresh) this.cwnd += bytes;
    else this.cwnd += (this.#mss() * bytes) / this.cwnd;
  }

  onLoss(sentAt: number, now: number): boolean {
    if (sentAt <= this.#recoveryStart) return false;
    this.#recoveryStart = now;
    this.ssthresh = Math.max(this.cwnd / 2, 2 * this.#mss());
    this.cwnd = this.ssthresh;
    return true;
  }

  /** RFC 5681 §3.1: the threshold from the flight size, then one segment at a time. */
  onTimeout(flightSize: number, now: number): void {
    this.ssthresh = Math.max(flightSize / 2, 2 * this.#mss());
    this.cwnd = this.#mss();
    this.#recoveryStart = now;
  }
}
