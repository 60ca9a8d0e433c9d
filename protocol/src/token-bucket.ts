/**
 * A token bucket: `rate` tokens a second, at most `capacity` saved up. Time (milliseconds) is
 * passed in, so the arithmetic is tested without a clock. The registry's relay budgets each node
 * with it, and the daemon's relay connection paces its messages. In memory only: a Durable Object
 * that hibernates starts its buckets full again, which lets through at most one more burst.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #rate: number;
  #tokens: number;
  #at = -Infinity;

  constructor(capacity: number, ratePerSecond: number) {
    this.#capacity = capacity;
    this.#rate = ratePerSecond;
    this.#tokens = capacity;
  }

  /** Whether `cost` tokens are there now. */
  holds(cost: number, now: number): boolean {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
      this.#at = now;
    }
    return this.#tokens >= cost;
  }

  /** Takes `cost` tokens, which `holds` said are there. */
  spend(cost: number): void {
    this.#tokens -= cost;
  }

  /** Milliseconds from `now` until `cost` tokens are there (0 if they are). */
  waitMs(cost: number, now: number): number {
    return this.holds(cost, now) ? 0 : ((cost - this.#tokens) * 1000) / this.#rate;
  }

  /** Takes `cost` tokens if they are there now. */
  take(cost: number, now: number): boolean {
    if (!this.holds(cost, now)) return false;
    this.spend(cost);
    return true;
  }
}
