/**
 * How the daemon process has V8 collect garbage, and what it reports of it.
 *
 * The data plane allocates fast (tens of small objects per packet, some 70,000 packets a second
 * at 1,500 bytes) and keeps little: its live heap stays near 20 MB. V8 sets the old generation's
 * limit from the live heap, a small multiple of it for a heap this size, and with that limit it
 * began marking the whole heap at nearly every young collection (V8's trace: each marking started
 * by its own task, the old generation at 16 MB of a 43 MB limit). On the path lab at MTU 1500 that
 * was 29 to 43 full collections per 768 MiB a daemon moved, one every 15 to 26 MiB, and their
 * marking threads took about 15 % of the sending daemon's CPU. Letting the old generation grow to
 * four times its live size before marking brings that to none or one.
 *
 * That costs up to three times the live heap in memory between collections, and it overrides V8's
 * own economies (under memory pressure, or when the program is idle), so it holds only while the
 * live heap is small: above LARGE_LIVE_HEAP (a daemon with many peers and connections) V8 chooses
 * again, and the growth comes back once the heap is small again. `tuneGc` runs as the daemon's
 * process starts, before it allocates much.
 *
 * Buffers are the other half. Every datagram received, and every packet AES-GCM seals or opens,
 * is a buffer of its own outside the heap, and V8 frees the dead ones on a background thread after
 * each young collection. Freed there while the event loop allocates the next ones, each such buffer
 * cost about 3 µs to allocate and free in glibc's malloc on the development machine (the threads
 * contend for its lock, and the free chunks reach the allocating thread late), against 0.45 µs when
 * V8 frees them within the collection itself (`--no-concurrent-array-buffer-sweeping`): sealing
 * 8,906 bytes with AES-GCM went from 9.7 to 3.7 µs. The frees now lengthen the young collections'
 * pauses, by some 70 ns a dead buffer (0.4 ms for 5,000), and a full collection's by its old
 * buffers'; in a loop freeing about 3,800 in each, the median pause stayed 0.44 ms (0.46 before),
 * as the lock no longer stalls it.
 *
 * A program on the SDK that moves bulk data meets the same: reading a stream at 200 MB/s, its socket
 * reads leave garbage buffers faster than anything else it allocates, and with a small heap V8 ran
 * a full collection after nearly every young one, half the receiving program's CPU. The package
 * exports `tuneGc` for such a program to call as it starts; the SDK never calls it itself, since
 * V8's flags are the whole process's and the memory is the program's.
 */
import { PerformanceObserver, constants } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";

/** The old generation's limit while tuned, as a percentage over its live size. */
const HEAP_GROWING_PERCENT = 300;
/** A live heap above this after a full collection hands the limit back to V8; below SMALL_LIVE_HEAP, it is tuned again. */
const LARGE_LIVE_HEAP = 64 << 20;
const SMALL_LIVE_HEAP = 48 << 20;

const counts = { major: 0, minor: 0 };
let observer: PerformanceObserver | undefined;
/** Whether this process tunes V8 (the daemon's does), and whether the growth is on now. */
let tuning = false;
let growing = false;

function grow(on: boolean): void {
  growing = on;
  // 0 is V8's default: no fixed percentage, its own choice.
  setFlagsFromString(`--heap-growing-percent=${on ? HEAP_GROWING_PERCENT : 0}`);
}

/** After a full collection the heap in use is about the live heap: small keeps the growth, large returns the choice to V8. */
function adjust(): void {
  const live = getHeapStatistics().used_heap_size;
  if (growing && live > LARGE_LIVE_HEAP) grow(false);
  else if (!growing && live < SMALL_LIVE_HEAP) grow(true);
}

/**
 * Lets this process's old generation grow to four times its live size before V8 marks it, while
 * the live heap is under 64 MiB, has V8 free dead buffers within each collection, and counts its
 * collections. Meant for the start of a process; a
 * second call changes nothing (it does not take the growth back from V8 on a large heap).
 */
export function tuneGc(): void {
  if (tuning) return;
  tuning = true;
  setFlagsFromString("--no-concurrent-array-buffer-sweeping");
  grow(true);
  countGcs();
}

/** Counts this process's collections from now on (once per process, however many daemons it runs). */
export function countGcs(): void {
  observer ??= new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) counts.minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        counts.major++;
        if (tuning) adjust();
      }
    }
  });
  observer.observe({ entryTypes: ["gc"] });
}

/**
 * The process's memory and its collections counted so far, as `pilotctl info` shows them. The
 * resident size comes from /proc, which a sandbox may hide: then it is null, and `info` (which
 * `daemon start`, `stop` and `status` wait on) still answers.
 */
export function memoryReport(): { rss_bytes: number | null; heap_used_bytes: number; major_gcs: number; minor_gcs: number } {
  let rss: number | null = null;
  try {
    rss = process.memoryUsage.rss();
  } catch {
    // No /proc here.
  }
  return { rss_bytes: rss, heap_used_bytes: getHeapStatistics().used_heap_size, major_gcs: counts.major, minor_gcs: counts.minor };
}

/** Whether the old generation is let grow now (tuned, and the live heap small). */
export const heapGrowthOn = (): boolean => growing;
