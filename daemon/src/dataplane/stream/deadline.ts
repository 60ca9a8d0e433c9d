/**
 * A timer that is cheap to move. Connections push their timers later on nearly every packet; this
 * keeps one setTimeout and, when it fires early, sets it again for the current deadline instead of
 * clearing and recreating a timer each time.
 */
export class Deadline {
  #at = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = 0;
  readonly #fire: () => void;

  constructor(fire: () => void) {
    this.#fire = fire;
  }

  get at(): number {
    return this.#at;
  }

  /** Fires at `at` (performance.now() milliseconds), replacing any earlier setting. */
  set(at: number): void {
    this.#at = at;
    if (this.#timer && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#arm(at);
  }

  clear(): void {
    this.#at = 0;
  }

  stop(): void {
    this.#at = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(at: number): void {
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#due(), Math.max(0, at - performance.now()));
    this.#timer.unref();
  }

  #due(): void {
    this.#timer = undefined;
    if (this.#at === 0) return;
    if (this.#at > performance.now() + 0.5) return this.#arm(this.#at);
    this.#at = 0;
    this.#fire();
  }
}
