/**
 * Writes to the local socket in batches, by either end. Each write wakes the other end, and at
 * 1,500-byte packets a write per packet (or per turn of the event loop, which on a fast receiver
 * holds one or two packets) took a third of the receiving daemon's time. So the socket is corked
 * at the first write and uncorked once the turn's I/O is done or, while data keeps coming,
 * BATCH_GAP_MS after the previous batch, or as soon as BATCH_BYTES wait. A lone write after a quiet
 * spell goes at the end of its turn: requests and answers wait for nothing.
 */
import type { Socket } from "node:net";

/** While data keeps coming, a batch waits at most this long behind the previous one... */
const BATCH_GAP_MS = 1;
/**
 * ...and goes at once when this much is waiting. At 1,500-byte packets, 256 KiB against 64 KiB
 * cost the receiving program 10 to 24 % less CPU per GB in each of six alternating pairs of runs
 * in the path lab (2.0–2.4 against 2.3–2.7 s), and the stream's median went from 71 to 75 MB/s.
 */
const BATCH_BYTES = 262_144;

/** A write function for `socket` that batches as above; each call writes its buffers in order. */
export function batchedWrites(socket: Socket): (...buffers: Buffer[]) => void {
  let corked = false;
  let waiting = 0;
  let flushedAt = 0;
  const flush = () => {
    if (!corked) return;
    corked = false;
    waiting = 0;
    flushedAt = performance.now();
    socket.uncork();
  };
  return (...buffers) => {
    if (!corked) {
      corked = true;
      socket.cork();
      const wait = flushedAt + BATCH_GAP_MS - performance.now();
      if (wait > 0) setTimeout(flush, wait);
      else setImmediate(flush);
    }
    for (const b of buffers) {
      socket.write(b);
      waiting += b.length;
    }
    if (waiting >= BATCH_BYTES) flush();
  };
}
