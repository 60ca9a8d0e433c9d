/**
 * Answers that must not tell, by how long they take, whether a named node exists: a handshake
 * request, an owner's invitation and its withdrawal. They run the same statements either way and
 * leave work that exists only for a real node until after the answer; what still differs (a row
 * written or not) is far smaller than this floor, below which none of these answers comes back.
 */
export const DISCREET_FLOOR_MS = 60;

/** Runs `work` and answers no sooner than `floorMs` after it began, whatever it returned or threw. */
export async function noSoonerThan<T>(floorMs: number, work: () => Promise<T>): Promise<T> {
  // Time in a Worker advances across I/O, which `work` does, so the measurement is real.
  const started = Date.now();
  try {
    return await work();
  } finally {
    const left = started + floorMs - Date.now();
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  }
}

/** Resolves on a later turn of the event loop: after an answer being returned now has gone. */
export const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Starts `work` on a later turn than the answer's own work, and keeps the Worker alive for it. (Under
 * `noSoonerThan` it may start while the answer waits out its floor, which is what the floor covers.)
 */
export const afterAnswer = (waitUntil: (p: Promise<unknown>) => void, work: () => Promise<unknown>) => waitUntil(nextTurn().then(work));
