/**
 * Time in the engine and its parts: milliseconds on the caller's clock, always passed in. A
 * deadline of 0 is none: every deadline is set later than some `now` ≥ 0, so 0 is never a real one.
 */

/** The earlier of two deadlines. */
export const earliest = (a: number, b: number) => (a && (!b || a < b) ? a : b);
