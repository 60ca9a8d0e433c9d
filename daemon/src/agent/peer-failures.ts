/**
 * The last failure this node met with each peer: a tunnel that found no path, a connection refused
 * or reset, a cut-off. `pilotctl why` shows it. Only what this node itself ran into is kept, and
 * only for the most recent peers, so a program dialling many node IDs cannot grow it without bound.
 */
import { PilotError } from "../errors.ts";

export interface PeerFailure {
  code: string;
  message: string;
  at: string;
}

const MAX_PEERS = 256;

export class PeerFailures {
  readonly #last = new Map<number, PeerFailure>();

  note(peer: number, code: string, message: string): void {
    // Deleted first so the map's order is the order of the failures: the oldest is dropped first.
    this.#last.delete(peer);
    this.#last.set(peer, { code, message, at: new Date().toISOString() });
    if (this.#last.size > MAX_PEERS) this.#last.delete(this.#last.keys().next().value!);
  }

  of(peer: number): PeerFailure | null {
    return this.#last.get(peer) ?? null;
  }

  /** Settles as `work` does, noting its failure for the peer. */
  async watch<T>(peer: number, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (e) {
      this.note(peer, e instanceof PilotError ? e.code : "internal", e instanceof Error ? e.message : String(e));
      throw e;
    }
  }
}
