/** Queuing events in nodes' inboxes, from the Worker and from a network's object. */
import { nodeHub } from "./hub.ts";
import type { InboxEvent } from "./inbox.ts";
import { backgroundLog, type Logger } from "../observability/log.ts";

export interface Delivery {
  nodeId: number;
  event: InboxEvent;
}

/** Queues an event for a node; failures are logged, never surfaced: D1 already holds the truth. */
export async function deliverQuietly(env: Env, nodeId: number, event: InboxEvent, madeAt = Date.now()): Promise<void> {
  try {
    await nodeHub(env, nodeId).deliver(event, madeAt);
  } catch (e) {
    backgroundLog.error("delivery_failed", { event_type: event.type, node_id: nodeId }, e);
  }
}

/** Calls in flight at once when one change concerns many nodes. */
export const FANOUT = 50;

/** Runs `call` for every item, FANOUT at a time (a change may concern thousands of nodes). */
export async function fanOut<T>(items: readonly T[], call: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += FANOUT) await Promise.all(items.slice(i, i + FANOUT).map(call));
}

/** Queues events for many nodes, a bounded number at a time. */
export const deliverToEach = (env: Env, deliveries: readonly Delivery[]) => fanOut(deliveries, (d) => deliverQuietly(env, d.nodeId, d.event));

/**
 * Runs one step of telling others about a change D1 already holds; a failure is logged, never
 * surfaced, and the next steps still run (what they push, lists re-read later show anyway).
 */
export async function attempt(what: string, call: () => Promise<void>, log: Logger = backgroundLog): Promise<void> {
  try {
    await call();
  } catch (e) {
    log.error("step_failed", { step: what }, e);
  }
}
