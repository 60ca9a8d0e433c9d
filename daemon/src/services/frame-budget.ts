/**
 * Memory for frames being gathered whole (a message for the inbox, an event to fan out), up to
 * 16 MiB each: per peer and in all. A frame's whole length is set aside when its header arrives,
 * so a frame that was let in can always be finished: none waits on another for memory it needs
 * half-way. A frame that does not fit waits, and its connection is read no further meanwhile (its
 * peer's window closes), so memory is bounded without refusing anyone.
 */

export interface FrameBudgetLimits {
  total: number;
  perPeer: number;
  /**
   * How long a frame may go without a byte while its peer may send: past that its connection is
   * reset and what it held is given back, so headers sent alone cannot hold the budget (or room
   * set aside in received/) for good.
   */
  stallMs?: number;
}

/** 128 MiB in all and 32 MiB per peer: eight peers, or two frames of the largest size from one. */
export const DEFAULT_FRAME_BUDGET: FrameBudgetLimits = { total: 128 << 20, perPeer: 32 << 20 };

/** A frame that makes no progress for 30 s while its peer may send is given up. */
export const FRAME_STALL_MS = 30_000;

interface Waiter {
  peer: number;
  n: number;
  grant: () => void;
}

export class FrameBudget {
  readonly limits: FrameBudgetLimits;
  #used = 0;
  readonly #usedBy = new Map<number, number>();
  readonly #waiting: Waiter[] = [];

  constructor(limits: FrameBudgetLimits = DEFAULT_FRAME_BUDGET) {
    this.limits = limits;
  }

  get used(): number {
    return this.#used;
  }

  /**
   * Resolves once `n` bytes (at most `perPeer`) are set aside for `peer`. Requests are granted in
   * order, except that one held back only by its own peer's share lets others pass: a peer that
   * fills its share delays nobody else.
   */
  reserve(peer: number, n: number): Promise<void> {
    if (n > this.limits.perPeer) throw new RangeError(`${n} bytes is more than a peer's share`);
    return new Promise((grant) => {
      this.#waiting.push({ peer, n, grant });
      this.#grantWaiting();
    });
  }

  release(peer: number, n: number): void {
    this.#used -= n;
    const left = (this.#usedBy.get(peer) ?? 0) - n;
    if (left > 0) this.#usedBy.set(peer, left);
    else this.#usedBy.delete(peer);
    this.#grantWaiting();
  }

  #fits(peer: number, n: number): boolean {
    return this.#used + n <= this.limits.total && (this.#usedBy.get(peer) ?? 0) + n <= this.limits.perPeer;
  }

  #take(peer: number, n: number): void {
    this.#used += n;
    this.#usedBy.set(peer, (this.#usedBy.get(peer) ?? 0) + n);
  }

  #grantWaiting(): void {
    for (let i = 0; i < this.#waiting.length; ) {
      const w = this.#waiting[i]!;
      if (this.#fits(w.peer, w.n)) {
        this.#waiting.splice(i, 1);
        this.#take(w.peer, w.n);
        w.grant();
        continue;
      }
      // Waiting for the total, not its peer's share: those behind it wait too, or it would starve.
      if (this.#used + w.n > this.limits.total) return;
      i++;
    }
  }
}
