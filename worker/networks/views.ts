/** How networks and their members are shown. */
import { effectiveTags, formatAddress, formatJoinUrl, type Member, type Network } from "@pilot/protocol";
import type { auditLog, NetworkRow, NodeRow } from "../db/schema.ts";
import { iso } from "../time.ts";

/** A member as its node row, when it joined and the tags its owner gave it here. */
export interface MemberRow {
  node: NodeRow;
  joinedAt: number;
  tags: string[];
}

/** A member, for the network's owner and its members only (tags included). */
export function memberView(networkId: number, { node, joinedAt, tags }: MemberRow, online: boolean, selfTagging: boolean): Member {
  return {
    node_id: node.id,
    address: formatAddress({ network: networkId, node: node.id }),
    hostname: node.hostname,
    online,
    endpoint: node.endpoint,
    lan_addrs: node.lanAddrs,
    capabilities: node.capabilities,
    joined_at: iso(joinedAt),
    tags,
    requested_tags: node.requestedTags,
    effective_tags: effectiveTags(tags, node.requestedTags, selfTagging),
  };
}

export function networkView(row: NetworkRow, maxMembers: number, origin: string): Network {
  return {
    network_id: row.id,
    name: row.name,
    join_rule: row.joinRule,
    members: row.memberCount,
    max_members: maxMembers,
    created_at: iso(row.createdAt),
    join:
      row.joinRule === "token" && row.joinToken
        ? {
            token: row.joinToken,
            command: `pilotctl join-network ${row.id} --token ${row.joinToken}`,
            daemon: `pilotctl daemon start --registry ${origin}`,
            url: formatJoinUrl({ registry: origin, networkId: row.id, token: row.joinToken }),
          }
        : null,
  };
}

export const auditView = (e: typeof auditLog.$inferSelect) => ({
  id: e.id,
  actor: { type: e.actorType, id: e.actorId },
  action: e.action,
  target_node_id: e.targetNodeId,
  target_name: e.targetName,
  at: iso(e.at),
});
