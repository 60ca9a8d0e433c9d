/**
 * Signals: messages for a node that are worth something only at the moment they are sent (a peer
 * wants a path and is probing now). They go to the node's open channel and are never queued, so an
 * offline node is not handed stale candidates when it comes back, and they cost no storage write.
 *
 * The registry sends a signal only for a requester the privacy gate lets see the node, and bounds
 * them here, so no peer, nor all of them together, can make the registry push without limit.
 */
import type { NodeEvent } from "@pilot/protocol";

export type PathWanted = Extract<NodeEvent, { type: "path_wanted" }>;

/** One signal per requester this often: a daemon probes for about four seconds after one. */
export const PER_REQUESTER_MS = 1000;
/** Signals to one node per second, from everyone together. */
export const PER_SECOND = 50;
/** Requesters remembered at most; past this the oldest are forgotten (they only lose their spacing). */
const REMEMBERED = 1024;

export class SignalBudget {
  readonly #lastFrom = new Map<number, number>();
  #window = { start: 0, count: 0 };

  /** Whether a signal from this requester may go out now; counts it if so. */
  admit(from: number, now: number): boolean {
    const last = this.#lastFrom.get(from);
    if (last !== undefined && now - last < PER_REQUESTER_MS) return false;
    if (now - this.#window.start >= 1000) this.#window = { start: now, count: 0 };
    if (this.#window.count >= PER_SECOND) return false;
    this.#window.count++;
    this.#lastFrom.delete(from);
    this.#lastFrom.set(from, now);
    if (this.#lastFrom.size > REMEMBERED) this.#lastFrom.delete(this.#lastFrom.keys().next().value!);
    return true;
  }
}
