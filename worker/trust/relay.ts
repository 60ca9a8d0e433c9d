import type { Database } from "../db/client.ts";
import type { InboxEvent } from "../nodes/inbox.ts";

/** What the trust rules need from the request that runs them. */
export interface Relay {
  readonly db: Database;
  /**
   * Tells a node through its inbox once the answer has gone (the Worker's waitUntil, a turn later),
   * so an answer's timing never includes work that exists only for a real target.
   */
  tellLater(nodeId: number, event: InboxEvent): void;
  /** Has the node's relayed paths checked again before the answer (worker/relay/regate.ts). */
  regate(nodeId: number): Promise<void>;
  /**
   * The pair of `a` and `b` now ends at `expiresAt` (null: never): has it swept then, once the
   * answer has gone. Gates refuse the pair from its end either way; the sweep tells its nodes.
   */
  endsAt(a: number, b: number, expiresAt: number | null): void;
}
