/** Reads of networks, their members and invitations, shared by the routes, the console and the network's object. */
import { BEYOND_SCHEMA_STATUS } from "@pilot/protocol";
import { and, asc, eq, gt, isNull } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { accounts, invitations, joinLinks, memberships, networks, nodes, plans, type NodeRow } from "../db/schema.ts";
import { ApiError, parseTarget } from "../errors.ts";
import { nodeByHostname, nodeById } from "../nodes/queries.ts";
import type { NetworkWithToken } from "./views.ts";

export interface NetworkWithPlan extends NetworkWithToken {
  /** The owner's plan limit on members. */
  maxMembers: number;
  /** When the operator suspended the owner's account (it then takes no new members), or null. */
  ownerSuspendedAt: number | null;
}

/** The default link never expires or runs out (see join-links.ts), so not revoked is live. */
const defaultLink = and(eq(joinLinks.networkId, networks.id), eq(joinLinks.isDefault, true), isNull(joinLinks.revokedAt));

export function networkWithPlan(db: Database, networkId: number): Promise<NetworkWithPlan | undefined> {
  return db
    .select({ row: networks, joinToken: joinLinks.token, maxMembers: plans.maxMembers, ownerSuspendedAt: accounts.suspendedAt })
    .from(networks)
    .innerJoin(accounts, eq(accounts.id, networks.accountId))
    .innerJoin(plans, eq(plans.id, accounts.plan))
    .leftJoin(joinLinks, defaultLink)
    .where(eq(networks.id, networkId))
    .get();
}

/** The network if this account owns it: "missing" and "not yours" are the same nothing. */
export async function ownedNetwork(db: Database, networkId: number, accountId: number): Promise<NetworkWithPlan | undefined> {
  const net = await networkWithPlan(db, networkId);
  return net?.row.accountId === accountId ? net : undefined;
}

/** The account's networks, oldest first. */
export const networksOwnedBy = (db: Database, accountId: number): Promise<NetworkWithToken[]> =>
  db
    .select({ row: networks, joinToken: joinLinks.token })
    .from(networks)
    .leftJoin(joinLinks, defaultLink)
    .where(eq(networks.accountId, accountId))
    .orderBy(asc(networks.id));

export const membership = (db: Database, networkId: number, nodeId: number) =>
  db
    .select({ joinedAt: memberships.joinedAt })
    .from(memberships)
    .where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId)))
    .get();

export async function isMember(db: Database, networkId: number, nodeId: number): Promise<boolean> {
  return (await membership(db, networkId, nodeId)) !== undefined;
}

/** A member's node row, when it joined and its tags. */
export const memberRow = (db: Database, networkId: number, nodeId: number) =>
  db
    .select({ node: nodes, joinedAt: memberships.joinedAt, tags: memberships.tags })
    .from(memberships)
    .innerJoin(nodes, eq(nodes.id, memberships.nodeId))
    .where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId)))
    .get();

/** Where a page starts (the `next_cursor` of the page before) and how long it is. */
export interface PageRequest {
  cursor?: string | undefined;
  limit: number;
}

/**
 * A page of members in node ID order, the network's revision and whether it allows self-tagging:
 * what D1 knows of the member list. A suspended member is absent from the members' lists
 * (nodes/suspension.ts), though still a member; the owner's list (`forOwner`) shows it, marked.
 */
export async function memberRows(db: Database, networkId: number, { cursor, limit }: PageRequest, forOwner = false) {
  const [rows, [network]] = await db.batch([
    db
      .select({ node: nodes, joinedAt: memberships.joinedAt, tags: memberships.tags })
      .from(memberships)
      .innerJoin(nodes, eq(nodes.id, memberships.nodeId))
      .where(
        and(
          eq(memberships.networkId, networkId),
          forOwner ? undefined : isNull(nodes.suspendedAt),
          cursor === undefined ? undefined : gt(memberships.nodeId, Number(cursor)),
        ),
      )
      .orderBy(asc(memberships.nodeId))
      .limit(limit + 1),
    db.select({ revision: networks.revision, selfTagging: networks.selfTagging }).from(networks).where(eq(networks.id, networkId)),
  ]);
  const page = rows.slice(0, limit);
  return {
    rows: page,
    nextCursor: rows.length > limit ? String(page.at(-1)!.node.id) : null,
    revision: network?.revision ?? 0,
    selfTagging: network?.selfTagging ?? false,
  };
}

/** The networks a node belongs to, by network ID. */
export const membershipsOf = (db: Database, nodeId: number) =>
  db
    .select({ id: networks.id, name: networks.name, joinedAt: memberships.joinedAt })
    .from(memberships)
    .innerJoin(networks, eq(networks.id, memberships.networkId))
    .where(eq(memberships.nodeId, nodeId))
    .orderBy(asc(networks.id));

/** The IDs of the networks a node belongs to. */
export async function networkIdsOf(db: Database, nodeId: number): Promise<number[]> {
  const rows = await db.select({ id: memberships.networkId }).from(memberships).where(eq(memberships.nodeId, nodeId));
  return rows.map((r) => r.id);
}

/** An invitation of the node to the network that has not expired. */
export const openInvitation = (db: Database, networkId: number, nodeId: number) =>
  db
    .select({ expiresAt: invitations.expiresAt })
    .from(invitations)
    .where(and(eq(invitations.networkId, networkId), eq(invitations.nodeId, nodeId), gt(invitations.expiresAt, Date.now())))
    .get();

/** The node's invitations that have not expired, by network ID. */
export const openInvitationsOf = (db: Database, nodeId: number) =>
  db
    .select({ id: networks.id, name: networks.name, createdAt: invitations.createdAt, expiresAt: invitations.expiresAt })
    .from(invitations)
    .innerJoin(networks, eq(networks.id, invitations.networkId))
    .where(and(eq(invitations.nodeId, nodeId), gt(invitations.expiresAt, Date.now())))
    .orderBy(asc(networks.id));

/**
 * The registered node a person named for a network (no privacy gate: the answer is never shown),
 * unless the operator suspended it, which makes it absent. An address must be the node's backbone
 * address or its address in this network.
 */
export async function nodeNamed(db: Database, name: string, networkId: number): Promise<NodeRow | undefined> {
  const ref = parseTarget(name);
  if (ref.kind === "address" && ref.address.network !== 0 && ref.address.network !== networkId) {
    throw new ApiError(
      BEYOND_SCHEMA_STATUS,
      "invalid_target",
      `${name} is an address in network ${ref.address.network}; use the node's address in network ${networkId}, its backbone address (0:…), its node ID or its hostname`,
    );
  }
  const row = ref.kind === "hostname" ? await nodeByHostname(db, ref.hostname) : await nodeById(db, ref.kind === "id" ? ref.node : ref.address.node);
  return row && row.deregisteredAt === null && row.suspendedAt === null ? row : undefined;
}
