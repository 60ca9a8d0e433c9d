/** How node rows are shown to the node itself and to nodes that resolve it. */
import { BACKBONE, formatAddress, OFFLINE_AFTER_SECONDS, type ResolvedNode, type SelfNode } from "@pilot/protocol";
import type { NodeRow } from "../db/schema.ts";
import { iso } from "../time.ts";

export function selfView(row: NodeRow): SelfNode {
  return {
    node_id: row.id,
    address: formatAddress({ network: BACKBONE, node: row.id }),
    public_key: row.publicKey,
    hostname: row.hostname,
    public: row.public,
    endpoint: row.endpoint,
    lan_addrs: row.lanAddrs,
    capabilities: row.capabilities,
    registered_at: iso(row.registeredAt),
  };
}

export function resolvedView(row: NodeRow, lastSeen: number | null, now = Date.now()): ResolvedNode {
  const { registered_at: _, ...shared } = selfView(row);
  return {
    ...shared,
    online: lastSeen !== null && now - lastSeen < OFFLINE_AFTER_SECONDS * 1000,
    last_seen: lastSeen === null ? null : iso(lastSeen),
  };
}
