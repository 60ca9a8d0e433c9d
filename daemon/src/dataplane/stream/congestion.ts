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
  /**
   * `bytes` arrived (acknowledged or SACKed); the newest of them was sent at `sentAt`, `inFlight`
   * bytes are still out, and the smoothed round trip is `rttMs` (0 before the first sample).
   */
  onDelivered(bytes: number, sentAt: number, inFlight: number, now: number, rttMs: number): void;
  /** Segments were declared lost, the newest of them sent at `sentAt`. True if this began a loss episode. */
  onLoss(sentAt: number, now: number): boolean;
  /** The retransmission timer expired with `flightSize` bytes outstanding. */
  onTimeout(flightSize: number, now: number): void;
  /** The last timeout was spurious (an ACK proved the flight was not lost): the state before it returns. */
  undoTimeout(): void;
  /** The last timeout was real: nothing of it will be undone. */
  keepTimeout(): void;
}

/** CUBIC's multiplicative decrease: the window keeps 70 % of itself at a loss (RFC 9438 §4.6). */
export const BETA = 0.7;
/** How fast the cubic curve leaves its plateau, in segments per second cubed (RFC 9438 §5.1). */
export const C = 0.4;
/** Reno's additive increase scaled so that a flow with β = 0.7 gets Reno's share, in segments per round trip (RFC 9438 §4.3). */
const ALPHA = (3 * (1 - BETA)) / (1 + BETA);

/** One congestion-avoidance stage: where the cubic curve and the Reno-friendly estimate start. */
interface Epoch {
  /** When the stage began, ms. */
  start: number;
  /** Seconds from the start until the curve reaches its plateau. */
  k: number;
  /** The plateau: the window the curve flattens at, in bytes. */
  plateau: number;
  /** W_est: the window Reno would have by now, in bytes. */
  est: number;
}

/**
 * CUBIC (RFC 9438) with byte counting, over the initial window of RFC 6928 and standard slow start.
 * After a loss the window grows along W(t) = C·(t − K)³ + W_max, in segments and seconds: fast
 * at first, flattening as it nears the window where the loss happened (W_max), then probing
 * beyond it ever faster. The growth depends on the time since the loss, not on how many round
 * trips have passed, so a long round trip no longer takes a minute to refill a large window (Reno
 * grows one segment per round trip). Where Reno would grow faster (small windows, short round
 * trips) the window follows Reno's estimate instead.
 *
 * The window is kept in bytes and the segment size is asked at each call, because path MTU
 * discovery may change it during a connection: the curve is in segments of the size of the moment.
 */
export class Cubic implements CongestionControl {
  cwnd: number;
  ssthresh = Infinity;
  readonly #mss: () => number;
  /** When the current loss episode (or timeout) began: losses of segments sent before it belong to it. */
  #recoveryStart = -Infinity;
  /** W_max, in bytes: the plateau of the next stage's curve. 0 after a timeout, so that the stage makes its own (§4.8). */
  #wMax = 0;
  /** The window when congestion was last detected, before the reduction: Reno's estimate grows with Reno's full increase past it (§4.3). */
  #lossWindow = 0;
  /** The congestion-avoidance stage under way; null until the first growth after a reduction or a pause. */
  #epoch: Epoch | null = null;
  /** The state before the first timeout of a run, until a loss or `keepTimeout`: what `undoTimeout` brings back. */
  #beforeTimeout: { cwnd: number; ssthresh: number; recoveryStart: number; wMax: number; lossWindow: number; epoch: Epoch | null } | null = null;

  constructor(mss: () => number) {
    this.#mss = mss;
    const first = mss();
    this.cwnd = Math.min(10 * first, Math.max(2 * first, 14_600));
  }

  /** With nothing in flight one segment always goes, whatever the window. */
  canSend(inFlight: number, bytes: number): boolean {
    return inFlight === 0 || inFlight + bytes <= this.cwnd;
  }

  onDelivered(bytes: number, sentAt: number, inFlight: number, now: number, rttMs: number): void {
    // No growth during a loss episode.
    if (sentAt <= this.#recoveryStart) return;
    // Nor when the program, not the window, limits the flight (RFC 9438 §5.8). The stage starts
    // again when the window limits once more: the same curve through the same window, so the
    // time spent waiting on the program does not count as time spent probing.
    if (inFlight + bytes < this.cwnd / 2) {
      this.#epoch = null;
      return;
    }
    if (this.cwnd < this.ssthresh) {
      this.cwnd += bytes;
      return;
    }
    const mss = this.#mss();
    const epoch = (this.#epoch ??= this.#begin(now, mss));
    const curve = (seconds: number) => epoch.plateau + C * (seconds - epoch.k) ** 3 * mss;
    const t = (now - epoch.start) / 1000;
    epoch.est += ((epoch.est < this.#lossWindow ? ALPHA : 1) * mss * bytes) / this.cwnd;
    if (curve(t) < epoch.est) {
      this.cwnd = Math.max(this.cwnd, epoch.est);
      return;
    }
    // Toward where the curve will be a round trip from now, by at most half the window per round trip (§4.4, §4.5).
    const target = Math.min(Math.max(curve(t + rttMs / 1000), this.cwnd), 1.5 * this.cwnd);
    this.cwnd += ((target - this.cwnd) * bytes) / this.cwnd;
  }

  onLoss(sentAt: number, now: number): boolean {
    if (sentAt <= this.#recoveryStart) return false;
    this.#beforeTimeout = null;
    this.#recoveryStart = now;
    // Fast convergence (§4.7): a loss below the last plateau means another flow has taken a
    // share, so this one plateaus lower and leaves it room.
    this.#wMax = this.cwnd < this.#wMax ? (this.cwnd * (1 + BETA)) / 2 : this.cwnd;
    this.#lossWindow = this.cwnd;
    this.ssthresh = Math.max(this.cwnd * BETA, 2 * this.#mss());
    this.cwnd = this.ssthresh;
    this.#epoch = null;
    return true;
  }

  /**
   * §4.8: as Reno, one segment and slow start, but the threshold keeps β of the flight. The
   * stage after it has no plateau from before: its curve starts flat at the window it begins with.
   */
  onTimeout(flightSize: number, now: number): void {
    this.#beforeTimeout ??= { cwnd: this.cwnd, ssthresh: this.ssthresh, recoveryStart: this.#recoveryStart, wMax: this.#wMax, lossWindow: this.#lossWindow, epoch: this.#epoch };
    const mss = this.#mss();
    this.ssthresh = Math.max(flightSize * BETA, 2 * mss);
    this.cwnd = mss;
    this.#recoveryStart = now;
    this.#wMax = this.#lossWindow = 0;
    this.#epoch = null;
  }

  keepTimeout(): void {
    this.#beforeTimeout = null;
  }

  undoTimeout(): void {
    const before = this.#beforeTimeout;
    if (!before) return;
    this.#beforeTimeout = null;
    ({ cwnd: this.cwnd, ssthresh: this.ssthresh, recoveryStart: this.#recoveryStart, wMax: this.#wMax, lossWindow: this.#lossWindow, epoch: this.#epoch } = before);
  }

  /** A congestion-avoidance stage from now: the curve through the window as it is, K from how far below the plateau that is (§4.2). */
  #begin(now: number, mss: number): Epoch {
    const plateau = Math.max(this.#wMax, this.cwnd);
    return { start: now, k: Math.cbrt((plateau - this.cwnd) / mss / C), plateau, est: this.cwnd };
  }
}
