/**
 * The relay's privacy gate, at the destination's object: a sender's frames reach the node only if
 * the sender may see the node right now, by the rule of resolve (worker/privacy.ts), so a stranger
 * learns nothing through the relay that resolve would not tell it. One more case passes: answers.
 * A node that wrote to the sender lately (ANSWER_WINDOW_MS) and may see it gets its answers, as a
 * private node that contacts a public one it shares nothing with must (the public node may not see
 * it); both parts are checked like any verdict, so a revocation ends answers as it ends the rest.
 * Verdicts are remembered per sender (worker/relay/limits.ts): refusals briefly, admissions until a
 * revocation makes the object forget them.
 */
import type { Database } from "../db/client.ts";
import { findVisibleNode } from "../privacy.ts";
import { GATE_ADMISSION_MS, GATE_REFUSAL_MS, GATE_SENDERS } from "./limits.ts";
import { backgroundLog } from "../observability/log.ts";

/**
 * Who relays a batch: the node, the token epoch it authenticated with, and the incarnation of its
 * object, a random ID made each time that object starts. Only the incarnation that relayed to a
 * destination knows to tell it to forget an admission; one that hibernated and started again does
 * not, so an admission holds only for the incarnation it was given to.
 */
export interface RelaySender {
  node: number;
  epoch: number;
  incarnation: string;
}

interface Verdict {
  epoch: number;
  incarnation: string;
  allowed: Promise<boolean>;
  /** Infinity while the query is under way: batches arriving meanwhile wait for the same answer. */
  until: number;
}

/** The node whose object holds the gate, at the token epoch of its relay connection. */
export interface GateOwner {
  node: number;
  epoch: number;
}

export class Gate {
  readonly #db: Database;
  /** Whether this node wrote to a node lately, and that node took it (Peers.answers). */
  readonly #wroteTo: (node: number) => boolean;
  /** By sender, oldest first. */
  readonly #verdicts = new Map<number, Verdict>();

  constructor(db: Database, wroteTo: (node: number) => boolean) {
    this.#db = db;
    this.#wroteTo = wroteTo;
  }

  /** Whether `from` may reach `destination` now. */
  allows(from: RelaySender, destination: GateOwner, now: number): Promise<boolean> {
    const known = this.#verdicts.get(from.node);
    if (known && known.epoch === from.epoch && known.incarnation === from.incarnation && now < known.until) return known.allowed;
    const verdict: Verdict = { epoch: from.epoch, incarnation: from.incarnation, until: Infinity, allowed: this.#ask(from, destination) };
    void verdict.allowed.then((allowed) => {
      // An answer asked for before a forget may predate the revocation: it serves the batches that
      // were waiting for it, which the sender sent before the revocation, and is not remembered.
      if (this.#verdicts.get(from.node) === verdict) verdict.until = Date.now() + (allowed ? GATE_ADMISSION_MS : GATE_REFUSAL_MS);
    });
    this.#verdicts.delete(from.node);
    this.#verdicts.set(from.node, verdict);
    if (this.#verdicts.size > GATE_SENDERS) this.#verdicts.delete(this.#verdicts.keys().next().value!);
    return verdict.allowed;
  }

  /** The sender's next batch is checked afresh. */
  forget(sender: number): void {
    this.#verdicts.delete(sender);
  }

  /** Every sender's next batch is checked afresh. */
  forgetAll(): void {
    this.#verdicts.clear();
  }

  async #ask(from: RelaySender, destination: GateOwner): Promise<boolean> {
    try {
      const sees = async (a: { node: number; epoch: number }, b: number) => (await findVisibleNode(this.#db, { nodeId: a.node, epoch: a.epoch }, { kind: "id", node: b })) !== undefined;
      return (await sees(from, destination.node)) || (this.#wroteTo(from.node) && (await sees(destination, from.node)));
    } catch (e) {
      // Fail closed: the frames are lost, as a datagram may be, and the next batch asks again.
      backgroundLog.error("relay_gate_check_failed", { sender: from.node, destination: destination.node }, e);
      return false;
    }
  }
}
