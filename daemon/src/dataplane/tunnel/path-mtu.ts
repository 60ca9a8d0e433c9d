/**
 * Path MTU discovery for one tunnel path, in the manner of RFC 8899 (DPLPMTUD), without I/O: it
 * says which probe to send and when, and is told which probes the peer answered. Time is passed in
 * (milliseconds, the caller's clock), `nextTimeout()` says when to call `onTimeout` again.
 *
 * Sizes are IP packet sizes on this node's first hop, headers included, as an interface's MTU is
 * counted. `mtu` is the PLPMTU: the largest size confirmed to reach the peer whole (or the base,
 * which every path is assumed to carry). A probe is a packet padded to a size, which the peer
 * acknowledges with a small answer. Probes go in rounds, each with a control beside it: a probe of
 * a size known to pass (the PLPMTU while searching above it, the base while confirming it). A
 * round whose probe is lost counts against the size only if its control got through, so the size
 * is blamed only for what smaller packets show it alone suffers: MAX_PROBES such rounds, and it does
 * not pass. A round that lost both says nothing of the size (an outage, a burst of loss). While
 * searching, MAX_PROBES of those in a row put the PLPMTU itself in doubt, and a confirmation
 * follows (or, searching up from the base, which nothing confirms, the search rests). While
 * confirming, SILENT_ROUNDS_PER_PROBE × MAX_PROBES in a row and the search rests,
 * keeping the PLPMTU it has (a path that carries nothing is not helped by smaller packets), and is
 * tried again after a rest that doubles, from BLACK_HOLE_RETRY_MS to the raise timer, until
 * something is answered again.
 *
 * A search starts from the PLPMTU. Its first probe is the largest size the first hop carries
 * (`max`): most paths carry what their first hop does, so most searches end with one round trip.
 * If that size does not pass, the search goes on over the common MTUs between the PLPMTU and the
 * smallest size that failed, halving the interval with each probe. Once no candidate is left the
 * search is complete, and it starts again after `raiseMs` (RFC 8899's PMTU_RAISE_TIMER): the path
 * may carry more by then. A search with nothing above the PLPMTU to try confirms the PLPMTU
 * instead, so a path that stopped carrying it is found even when no data flows.
 *
 * A black hole: the PLPMTU itself stops getting through (a route change to a smaller MTU). Losses
 * reported by the data that uses the path (`lossReported`) start a confirmation, a probe of the
 * PLPMTU's size; if MAX_PROBES of those are lost while their controls pass, the PLPMTU falls to the
 * base at once and the search starts again, below the size that failed.
 */

/** Common MTUs a search tries below the first hop's: IPv6 tunnels, WireGuard, VXLAN, IPv4 tunnels, PPPoE, Ethernet, jumbo frames. */
const COMMON_MTUS: readonly number[] = [1400, 1420, 1450, 1480, 1492, 1500, 9000];

export interface PathMtuSettings {
  /** RFC 8899's BASE_PLPMTU: a size every path is assumed to carry; the PLPMTU never falls below it. */
  base: number;
  /** The largest size the first hop carries unfragmented: no probe is larger. */
  max: number;
  /** RFC 8899's MAX_PROBES: rounds in which a probe of one size was lost and its control was not, before that size fails. */
  maxProbes: number;
  /** RFC 8899's PMTU_RAISE_TIMER: how long a complete search rests before the next. */
  raiseMs: number;
}

/** How soon a search follows one that found a black hole, or that ended with nothing getting through. */
export const BLACK_HOLE_RETRY_MS = 10_000;

/** Rounds without a verdict (probe and control both lost) a size may take, per probe MAX_PROBES allows, before the search rests. */
export const SILENT_ROUNDS_PER_PROBE = 3;

/** A probe to send: its size, and the ID the peer's answer is reported under. */
export interface Probe {
  id: number;
  size: number;
}

export type PathMtuState = "searching" | "confirming" | "complete";

interface Probing {
  size: number;
  /** The size of the controls: one known to pass. */
  controlSize: number;
  /** Rounds whose probe was lost while its control got through. */
  failures: number;
  /** Rounds in a row that lost both. */
  silent: number;
  /** IDs of the probes of this size: an answer to any of them confirms the size, a late one included. */
  ids: Set<number>;
  /** The current round's control, and whether it was answered. */
  controlId: number;
  controlAnswered: boolean;
  /** When the current round ends; 0 while the next is due to go. */
  lostAt: number;
}

export class PathMtu {
  readonly #s: Omit<PathMtuSettings, "max">;
  #max: number;
  #mtu: number;
  /** The smallest size found not to pass in this search, or Infinity. */
  #failed = Infinity;
  #probing: Probing | null = null;
  /** When the next search starts; 0 while one is under way. */
  #raiseAt = 0;
  /** How long the coming rest lasts, when not the raise timer: after a black hole, or without a verdict (see BLACK_HOLE_RETRY_MS). */
  #restMs: number | null = null;
  /** The next rest without a verdict: it doubles with each, until something is answered. */
  #silentRestMs = BLACK_HOLE_RETRY_MS;
  #nextId = 1;

  /** Starts searching at once, from `start` (a value remembered for this path) or the base. */
  constructor(settings: PathMtuSettings, now: number, start = settings.base) {
    const { max, ...rest } = settings;
    this.#s = rest;
    this.#max = max;
    this.#mtu = Math.min(Math.max(start, this.#base), max);
    this.#search(now);
  }

  /** The PLPMTU: the largest packet the path is known to carry. */
  get mtu(): number {
    return this.#mtu;
  }

  /** The first hop's MTU, as last given. */
  get max(): number {
    return this.#max;
  }

  get state(): PathMtuState {
    if (!this.#probing) return "complete";
    return this.#probing.size <= this.#mtu ? "confirming" : "searching";
  }

  /** The base, but never above what the first hop carries. */
  get #base(): number {
    return Math.min(this.#s.base, this.#max);
  }

  /**
   * The round due now, if any: the probe and its control, which the caller sends together. They
   * count as lost `timeoutMs` from now.
   */
  nextProbes(now: number, timeoutMs: number): [probe: Probe, control: Probe] | null {
    const p = this.#probing;
    if (!p || p.lostAt !== 0) return null;
    const probe = { id: this.#nextId++, size: p.size };
    const control = { id: this.#nextId++, size: p.controlSize };
    p.ids.add(probe.id);
    p.controlId = control.id;
    p.controlAnswered = false;
    p.lostAt = now + timeoutMs;
    return [probe, control];
  }

  /** When `onTimeout` is next needed: a probe counted lost, or the next search; null for never. */
  nextTimeout(): number | null {
    const p = this.#probing;
    if (p) return p.lostAt || null;
    return this.#raiseAt || null;
  }

  onTimeout(now: number): void {
    const p = this.#probing;
    if (p && p.lostAt !== 0 && now >= p.lostAt) {
      if (p.controlAnswered) {
        p.failures++;
        p.silent = 0;
      } else {
        p.silent++;
      }
      const searching = p.size > this.#mtu;
      if (p.failures >= this.#s.maxProbes) this.#failedSize(p.size, now);
      // A search's controls are of the PLPMTU's size: lost as well, they put the PLPMTU in doubt,
      // unless it is the base, which nothing confirms.
      else if (searching && p.silent >= this.#s.maxProbes && this.#mtu > this.#base) this.#probe(this.#mtu);
      else if (p.silent >= (searching ? 1 : SILENT_ROUNDS_PER_PROBE) * this.#s.maxProbes) this.#rest(now);
      else p.lostAt = 0;
    } else if (!p && this.#raiseAt !== 0 && now >= this.#raiseAt) {
      this.#search(now);
    }
  }

  /** The peer answered probe `id`. True if the PLPMTU changed. */
  answered(id: number, now: number): boolean {
    const p = this.#probing;
    if (p && (id === p.controlId || p.ids.has(id))) this.#silentRestMs = BLACK_HOLE_RETRY_MS;
    if (p && id === p.controlId) p.controlAnswered = true;
    if (!p?.ids.has(id)) return false;
    const before = this.#mtu;
    this.#mtu = Math.max(this.#mtu, p.size);
    this.#next(now);
    return this.#mtu !== before;
  }

  /**
   * Data on the path went unacknowledged (a stream's retransmission timeout): the PLPMTU may have
   * stopped getting through. Starts a confirmation unless one is under way or the PLPMTU is the base;
   * a search probe out at the time is forgotten.
   */
  lossReported(): void {
    if (this.#mtu <= this.#base || this.state === "confirming") return;
    this.#probe(this.#mtu);
  }

  /**
   * The first hop's MTU, read again. A smaller one lowers the PLPMTU at once (larger packets would
   * be fragmented on the way out); a larger one starts a search, unless one is under way.
   */
  setMax(max: number, now: number): boolean {
    if (max === this.#max) return false;
    const before = this.#mtu;
    const grew = max > this.#max;
    this.#max = max;
    this.#mtu = Math.min(this.#mtu, max);
    if (this.#probing && this.#probing.size > max) this.#next(now);
    else if (grew && !this.#probing) this.#search(now);
    return this.#mtu !== before;
  }

  /** A new search: the first hop's MTU first, or a confirmation when the PLPMTU is that already. */
  #search(now: number): void {
    this.#failed = Infinity;
    if (this.#max > this.#mtu) this.#probe(this.#max);
    else if (this.#mtu > this.#base) this.#probe(this.#mtu);
    else this.#complete(now);
  }

  /** After an answer or a failure: the next candidate of the search, or the end of it. */
  #next(now: number): void {
    // The first hop's MTU stays a candidate until it fails: a confirmation may have cut its probe short.
    const sizes = [...COMMON_MTUS.filter((size) => size < this.#max), this.#max];
    const candidates = sizes.filter((size) => size > this.#mtu && size < this.#failed);
    // The upper middle: with two left, the larger, so a path that carries it is done in one probe.
    if (candidates.length > 0) this.#probe(candidates[candidates.length >> 1]!);
    else this.#complete(now);
  }

  #failedSize(size: number, now: number): void {
    if (size <= this.#mtu && this.#mtu > this.#base) {
      // A black hole: the PLPMTU no longer gets through. Back to the base, searching below the size that failed.
      this.#mtu = this.#base;
      this.#restMs = BLACK_HOLE_RETRY_MS;
    }
    this.#failed = Math.min(this.#failed, size);
    this.#next(now);
  }

  #probe(size: number): void {
    const controlSize = size > this.#mtu ? this.#mtu : this.#base;
    this.#probing = { size, controlSize, failures: 0, silent: 0, ids: new Set(), controlId: 0, controlAnswered: false, lostAt: 0 };
    this.#raiseAt = 0;
  }

  /** Nothing got through, controls included: no verdict on the size, and the search rests until the path carries packets again. */
  #rest(now: number): void {
    this.#restMs = this.#silentRestMs;
    this.#silentRestMs = Math.min(2 * this.#silentRestMs, this.#s.raiseMs);
    this.#complete(now);
  }

  #complete(now: number): void {
    this.#probing = null;
    // After a black hole the size that failed is tried again soon, not at the raise timer: heavy loss
    // that lost the probes and spared their controls must not hold the path down for ten minutes.
    this.#raiseAt = now + Math.min(this.#restMs ?? Infinity, this.#s.raiseMs);
    this.#restMs = null;
  }
}
