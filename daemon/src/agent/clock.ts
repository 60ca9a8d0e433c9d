/**
 * Wall-clock time and alarms at a given time, as the parts that act on absolute times (the end of
 * time-boxed trust) see them: injected, so tests move time instead of waiting for it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `f` once `now()` has reached `when`; the function returned cancels it. */
  at(when: number, f: () => void): () => void;
}

/** Node's timers take at most this delay (about 24.8 days); a later alarm waits in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  at(when, f) {
    let timer: NodeJS.Timeout;
    const wait = () => {
      const delay = Math.max(0, when - Date.now());
      // A timer may fire a little early; waiting again until `when` keeps the promise of `at`.
      timer = setTimeout(() => (Date.now() >= when ? f() : wait()), Math.min(delay, MAX_DELAY_MS));
      // An alarm alone does not keep the process alive: the daemon's sockets do.
      timer.unref();
    };
    wait();
    return () => clearTimeout(timer);
  },
};
