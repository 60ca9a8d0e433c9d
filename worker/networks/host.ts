import type { PushEvent, RevocationKind } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Delivery } from "../nodes/delivery.ts";
import type { InboxEvent } from "../nodes/inbox.ts";
import type { PolicyMemo } from "./policy-state.ts";
import type { WrongTokens } from "./wrong-tokens.ts";

/**
 * What a network's rules (membership.ts, lifecycle.ts) need from the network's Durable Object,
 * which runs them one at a time: the database, its channels, and delivery to nodes' inboxes.
 */
export interface NetworkHost {
  readonly db: Database;
  /** Logs under the request that asked for the change (null: the object's own alarm). */
  readonly log: Logger;
  readonly metrics: Metrics;
  /**
   * Tells a node through its own inbox, after anything this network told it before, and on a later
   * turn than the answer, so the answer's timing does not depend on whether there was a node to tell.
   */
  notify(nodeId: number, event: InboxEvent): void;
  /** The same for many nodes, a bounded number at a time (a network may have thousands). */
  notifyAll(nodes: readonly { nodeId: number }[], event: InboxEvent): void;
  /** Queues these events now, in the background, outside the network's own order of deliveries. */
  deliver(deliveries: readonly Delivery[]): void;
  /** Tells every open channel of the network: its members' and its owner's console views. */
  broadcast(event: PushEvent): void;
  /** Whether the node holds this network's channel now. */
  isOnline(nodeId: number): boolean;
  /**
   * Has these nodes' relayed paths checked again (worker/relay/regate.ts), so a relation that ended
   * carries no relayed frame after the answer; done when every node's object has.
   */
  regate(nodeIds: readonly number[]): Promise<void>;
  /**
   * A change recorded this revocation (worker/revocations/record.ts) and is in force now: its
   * receipts are timed from here, and the owner's views are shown it, in the background; the
   * metrics get its fan-out time once the change's news has gone out.
   */
  revoked(networkId: number, revocationId: string, kind: RevocationKind): void;
  /** Closes the channels of a node removed from the network. */
  closeChannels(nodeId: number): void;
  /** Closes every channel: the network is gone. */
  closeAllChannels(): void;
  /** Runs `expireInvitations` at this time, unless it is due sooner already. */
  expireInvitationsAt(networkId: number, at: number): Promise<void>;
  cancelInvitationExpiry(): Promise<void>;
  readonly wrongTokens: WrongTokens;
  /** The policy state greetings carry, kept between changes (policy.ts). */
  readonly policyMemo: PolicyMemo;
  /** What a plan_limit says about getting more (worker/accounts/upgrade.ts). */
  readonly howToGetMore: string;
}
