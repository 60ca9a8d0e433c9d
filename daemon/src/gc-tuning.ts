/**
 * How the daemon process has V8 collect garbage, and what it reports of it.
 *
 * The data plane allocates fast (tens of small objects per packet, some 70,000 packets a second
 * at 1,500 bytes) and keeps little: its live heap stays near 20 MB. V8 sets the old generation's
 * limit from the live heap, and for a heap this small the room left under the limit ends up less
 * than the young generation that allocation rate grows; V8 then starts marking the whole heap at
 * nearly every young collection. On the path lab at MTU 1500 that was 29 to 43 full collections
 * per 768 MiB a daemon moved, and their marking threads took about 15 % of the sending daemon's
 * CPU. Letting the old generation grow to four times its live size before marking brings that to
 * none or one, for tens of MB more heap at most. `tuneGc` runs as the daemon process starts,
 * before it allocates much; never in a program that embeds the SDK.
 */
import { PerformanceObserver, constants } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";

/** The old generation's limit, as a percentage over its live size (V8 otherwise picks it from the collector's and the program's speeds). */
export const HEAP_GROWING_PERCENT = 300;

export function tuneGc(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

const counts = { major: 0, minor: 0 };
let observer: PerformanceObserver | undefined;

/** Counts this process's collections from now on (once per process, however many daemons it runs). */
export function countGcs(): void {
  observer ??= new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) counts.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) counts.minor++;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
}

/** Full (major) and young-generation (minor) collections counted so far. */
export const gcCounts = (): { major: number; minor: number } => ({ ...counts });
