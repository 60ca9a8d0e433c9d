/**
 * Signals: messages for a node that are worth something only at the moment they are sent (a peer
 * wants a path and is probing now). They go to the node's open channel and are never queued, so an
 * offline node is not handed stale candidates when it comes back, and they cost no storage write.
 *
 * The registry sends a signal only for a requester the privacy gate lets see the node, and bounds
 * them here, so no peer, nor all of them together, can make the registry push without limit. A
 * public node can be seen by anyone, so requesters it shares nothing with (no network, no trust)
 * have a budget of their own, narrower: however many nodes a stranger registers, the nodes a public
 * node works with still get through.
 */
import type { NodeEvent } from "@pilot/protocol";

export type PathWanted = Extract<NodeEvent, { type: "path_wanted" }>;

/** Who asks: a co-member or trusted peer, or a node that sees the target only because it is public. */
export type Requester = "related" | "stranger";

/** One signal per requester this often (a daemon probes for about four seconds after one), and this many per second in all. */
export const BUDGETS: Record<Requester, { spacingMs: number; perSecond: number }> = {
  related: { spacingMs: 1000, perSecond: 50 },
  stranger: { spacingMs: 10_000, perSecond: 10 },
};
/** Requesters remembered at most per budget; past this the oldest are forgotten (they only lose their spacing). */
const REMEMBERED = 1024;

class Budget {
  readonly #limits: { spacingMs: number; perSecond: number };
  readonly #lastFrom = new Map<number, number>();
  #window = { start: 0, count: 0 };

  constructor(limits: { spacingMs: number; perSecond: number }) {
    this.#limits = limits;
  }

  admit(from: number, now: number): boolean {
    const last = this.#lastFrom.get(from);
    if (last !== undefined && now - last < this.#limits.spacingMs) return false;
    if (now - this.#window.start >= 1000) this.#window = { start: now, count: 0 };
    if (this.#window.count >= this.#limits.perSecond) return false;
    this.#window.count++;
    this.#lastFrom.delete(from);
    this.#lastFrom.set(from, now);
    if (this.#lastFrom.size > REMEMBERED) this.#lastFrom.delete(this.#lastFrom.keys().next().value!);
    return true;
  }
}

export class SignalBudget {
  readonly #budgets = { related: new Budget(BUDGETS.related), stranger: new Budget(BUDGETS.stranger) };

  /** Whether a signal from this requester may go out now; counts it if so. */
  admit(from: number, requester: Requester, now: number): boolean {
    return this.#budgets[requester].admit(from, now);
  }
}
