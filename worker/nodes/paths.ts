/** Path requests: telling a node that a peer allowed to see it wants a direct path, with the peer's candidates. */
import { lanCandidatesFor } from "@pilot/protocol";
import { database } from "../db/client.ts";
import { related } from "../privacy.ts";
import type { NodeRow } from "../db/schema.ts";
import { nodeHub } from "./hub.ts";
import { nodeById } from "./queries.ts";
import type { Logger } from "../observability/log.ts";

/**
 * Signals the target with the requester's candidates as last reported (its private addresses only
 * to a target behind the same public address); failures are logged, never surfaced.
 */
export async function askForPath(env: Env, log: Logger, requester: number, target: Pick<NodeRow, "id" | "endpoint">): Promise<void> {
  try {
    const db = database(env);
    const [from, isRelated] = await Promise.all([nodeById(db, requester), related(db, requester, target.id)]);
    if (!from) return;
    const lanAddrs = lanCandidatesFor(from.lanAddrs, from.endpoint, target.endpoint);
    await nodeHub(env, target.id).signal({ type: "path_wanted", node_id: from.id, endpoint: from.endpoint, lan_addrs: lanAddrs }, isRelated ? "related" : "stranger");
  } catch (e) {
    log.error("path_signal_failed", { node_id: target.id, requester }, e);
  }
}
