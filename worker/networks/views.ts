/** How networks and their members are shown. */
import { effectiveTags, formatAddress, formatJoinUrl, type JoinLinkState, type NetworkJoinLink, type Member, type Network } from "@pilot/protocol";
import type { auditLog, JoinLinkRow, NetworkRow, NodeRow } from "../db/schema.ts";
import { iso, isoOrNull } from "../time.ts";

/** A network with the token of its default join link, if it has one that is not revoked. */
export interface NetworkWithToken {
  row: NetworkRow;
  joinToken: string | null;
}

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
    // Only the owner's list holds a suspended member: every other view leaves it out.
    ...(node.suspendedAt === null ? {} : { suspended: true as const }),
  };
}

/** The command and URL that join the network with a token. */
const joinWith = (networkId: number, token: string, origin: string) => ({
  command: `pilotctl join-network ${networkId} --token ${token}`,
  url: formatJoinUrl({ registry: origin, networkId, token }),
});

export function networkView({ row, joinToken }: NetworkWithToken, maxMembers: number, origin: string): Network {
  return {
    network_id: row.id,
    name: row.name,
    join_rule: row.joinRule,
    members: row.memberCount,
    max_members: maxMembers,
    created_at: iso(row.createdAt),
    join:
      row.joinRule === "token" && joinToken !== null
        ? { token: joinToken, ...joinWith(row.id, joinToken, origin), daemon: `pilotctl daemon start --registry ${origin}` }
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

export function linkState(link: JoinLinkRow, now: number): JoinLinkState {
  if (link.revokedAt !== null) return "revoked";
  if (link.expiresAt !== null && link.expiresAt <= now) return "expired";
  if (link.maxUses !== null && link.uses >= link.maxUses) return "used_up";
  return "live";
}

export function joinLinkView(link: JoinLinkRow, origin: string, now: number): NetworkJoinLink {
  return {
    link_id: link.id,
    label: link.label,
    default: link.isDefault,
    state: linkState(link, now),
    token: link.token,
    ...joinWith(link.networkId, link.token, origin),
    uses: link.uses,
    max_uses: link.maxUses,
    uses_left: link.maxUses === null ? null : Math.max(0, link.maxUses - link.uses),
    expires_at: isoOrNull(link.expiresAt),
    created_at: iso(link.createdAt),
    revoked_at: isoOrNull(link.revokedAt),
  };
}
