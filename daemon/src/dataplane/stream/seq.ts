/** 32-bit sequence-number arithmetic, modulo 2^32 (RFC 793 §3.3): comparisons hold across wraparound. */
export const seqAdd = (a: number, n: number) => (a + n) >>> 0;
/** a − b as a signed distance. */
export const seqDiff = (a: number, b: number) => (a - b) | 0;
export const seqLt = (a: number, b: number) => seqDiff(a, b) < 0;
export const seqLte = (a: number, b: number) => seqDiff(a, b) <= 0;
