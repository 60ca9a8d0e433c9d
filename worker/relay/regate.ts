/**
 * Stopping relayed traffic that a revocation ended, before the registry answers the revoking
 * request: one call to each node's object, which forgets its senders and has each destination it
 * relayed to forget it (worker/relay/relay.ts). Removals, deletions, untrust and going private call it.
 */
import { fanOut } from "../nodes/delivery.ts";
import { nodeHub } from "../nodes/hub.ts";
import { backgroundLog } from "../observability/log.ts";

/** Failures are logged, not surfaced: D1 already holds the truth, and admissions expire on their own (GATE_ADMISSION_MS). */
export const regate = (env: Env, nodeIds: readonly number[]) =>
  fanOut(nodeIds, async (id) => {
    try {
      await nodeHub(env, id).regate();
    } catch (e) {
      backgroundLog.error("relay_regate_failed", { node_id: id }, e);
    }
  });
