/** Path requests: telling a node that a peer allowed to see it wants a direct path, with the peer's candidates. */
import { database } from "../db/client.ts";
import { nodeHub } from "./hub.ts";
import { nodeById } from "./queries.ts";

/** Signals the target with the requester's candidates as last reported; failures are logged, never surfaced. */
export async function askForPath(env: Env, requester: number, target: number): Promise<void> {
  try {
    const from = await nodeById(database(env), requester);
    if (!from) return;
    await nodeHub(env, target).signal({ type: "path_wanted", node_id: from.id, endpoint: from.endpoint, lan_addrs: from.lanAddrs });
  } catch (e) {
    console.error("could not signal node", target, "for a path from", requester, e);
  }
}
