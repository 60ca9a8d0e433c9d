/**
 * What one node may receive through the relay, in windows of INBOUND_WINDOW_MS, shared fairly among
 * the senders active in the window (worker/relay/limits.ts). Time is passed in.
 */
import { INBOUND_BATCHES_PER_WINDOW, INBOUND_BYTES_PER_WINDOW, INBOUND_WINDOW_MS } from "./limits.ts";

interface Use {
  bytes: number;
  batches: number;
}

export class InboundShare {
  #start = -Infinity;
  readonly #total: Use = { bytes: 0, batches: 0 };
  readonly #bySender = new Map<number, Use>();

  /** Whether a batch of `bytes` from `sender` passes now; counts it if so. */
  admit(sender: number, bytes: number, now: number): boolean {
    if (now - this.#start >= INBOUND_WINDOW_MS) {
      this.#start = now;
      this.#total.bytes = this.#total.batches = 0;
      this.#bySender.clear();
    }
    const mine = this.#bySender.get(sender) ?? { bytes: 0, batches: 0 };
    const [budgetBytes, budgetBatches] = [INBOUND_BYTES_PER_WINDOW, INBOUND_BATCHES_PER_WINDOW];
    const withinBudget = this.#total.bytes + bytes <= budgetBytes && this.#total.batches + 1 <= budgetBatches;
    if (!withinBudget) {
      const active = this.#bySender.size + (this.#bySender.has(sender) ? 0 : 1);
      const withinShare = mine.bytes + bytes <= budgetBytes / active && mine.batches + 1 <= budgetBatches / active;
      // Shares are reckoned as senders arrive, so early ones may have had more than a later share:
      // the hard ceiling keeps the window's total bounded however many arrive.
      const underCeiling = this.#total.bytes + bytes <= 2 * budgetBytes && this.#total.batches + 1 <= 2 * budgetBatches;
      if (!withinShare || !underCeiling) return false;
    }
    mine.bytes += bytes;
    mine.batches += 1;
    this.#bySender.set(sender, mine);
    this.#total.bytes += bytes;
    this.#total.batches += 1;
    return true;
  }
}
