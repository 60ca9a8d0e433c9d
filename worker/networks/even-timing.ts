/**
 * Answers that must not tell, by how long they take, whether a named node exists (an owner's
 * invitation and its withdrawal) run the same statements either way; what still differs (a row
 * written or not) is far smaller than this floor, below which no such answer comes back.
 */
export const INVITATION_FLOOR_MS = 60;

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
