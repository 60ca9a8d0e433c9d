/**
 * Who belongs to a network, and how that changes: add, invite, join, accept, decline, withdraw,
 * remove, leave, and invitations running out. Each change runs inside the network's Durable Object,
 * one at a time, and is committed to D1 in a single batch before the caller hears back; the nodes
 * it concerns are told through their own inboxes, after the commit, in the background, so the
 * answer's timing does not depend on whether a named node exists.
 *
 * Admission and invitation are plain D1 statements: each writes with INSERT … SELECT … WHERE EXISTS
 * (the node is still registered) and RETURNING, which drizzle cannot batch, and the statements
 * batched with them are D1 too, as a batch is one kind or the other. Everything else is drizzle.
 */
import { and, eq, lte, min, or, sql } from "drizzle-orm";
import type { PolicyState } from "@pilot/protocol";
import { auditLog, invitations, memberships, networks, trustPairs } from "../db/schema.ts";
import { nodeById } from "../nodes/queries.ts";
import { newRevocationId, removalStatements } from "../revocations/record.ts";
import { trustEnded } from "../trust/pairs.ts";
import type { NetworkHost } from "./host.ts";
import { liveLinks, matchingLink, type LiveLink } from "./join-links.ts";
import { networkOwner } from "./audit.ts";
import { failure, networkNotFound, success, type Outcome } from "./outcome.ts";
import { isMember, memberRow, membership, networkWithPlan, openInvitation, ownedNetwork, type NetworkWithPlan } from "./queries.ts";
import { memberView } from "./views.ts";

export interface Actor {
  type: "account" | "node";
  id: number;
}

export type RemovalReason = "removed" | "left" | "deregistered";

export const INVITATION_TTL_MS = 7 * 86_400_000;

/** The owner adds a node its account owns. */
export async function add(host: NetworkHost, networkId: number, accountId: number, nodeId: number): Promise<Outcome<{ result: "added" | "already_member" }>> {
  const net = await ownedNetwork(host.db, networkId, accountId);
  if (!net) return networkNotFound();
  if (await isMember(host.db, networkId, nodeId)) return success({ result: "already_member" as const });
  const added = await admit(host, net, nodeId, { type: "account", id: accountId }, "member_added");
  return added.ok ? success({ result: "added" as const }) : added;
}

/**
 * The owner invites a name that is not a node it owns; a node with that name must accept. The
 * same statements run, and the same audit entry (the name as typed) is written, whether or not a
 * node has the name (`nodeId` null), and the node is told on a later turn than the answer, so
 * neither the answer, its timing nor the log tells the owner that a private node exists. An
 * invitation still open is renewed without telling the node again.
 */
export async function invite(
  host: NetworkHost,
  networkId: number,
  accountId: number,
  nodeId: number | null,
  name: string,
): Promise<Outcome<{ result: "invited" | "already_member"; expiresAt: number }>> {
  const net = await ownedNetwork(host.db, networkId, accountId);
  if (!net) return networkNotFound();
  const now = Date.now();
  const expiresAt = now + INVITATION_TTL_MS;
  // Node 0 is nobody: the queries below run for a missing name too, and find nothing.
  const node = nodeId ?? 0;
  if (await isMember(host.db, networkId, node)) return success({ result: "already_member" as const, expiresAt });
  const DB = host.db.$client;
  const [open, invited] = await DB.batch<{ node_id: number }>([
    DB.prepare("SELECT node_id FROM invitations WHERE network_id = ?1 AND node_id = ?2 AND expires_at > ?3").bind(networkId, node, now),
    DB.prepare(
      `INSERT INTO invitations (network_id, node_id, created_at, expires_at, invited_as)
       SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM nodes WHERE id = ?2 AND deregistered_at IS NULL)
       ON CONFLICT (network_id, node_id) DO UPDATE SET created_at = excluded.created_at, expires_at = excluded.expires_at, invited_as = excluded.invited_as
       RETURNING node_id`,
    ).bind(networkId, node, now, expiresAt, name),
    DB.prepare("INSERT INTO audit_log (network_id, account_id, actor_type, actor_id, action, target_name, at) VALUES (?1, ?2, 'account', ?2, 'node_invited', ?3, ?4)").bind(
      networkId,
      accountId,
      name,
      now,
    ),
  ]);
  if (invited?.results.length && !open?.results.length) {
    host.notify(node, { type: "invitation_received", network_id: networkId, name: net.row.name, expires_at: new Date(expiresAt).toISOString() });
  }
  await host.expireInvitationsAt(networkId, expiresAt);
  return success({ result: "invited" as const, expiresAt });
}

/**
 * A node presents a join link's token. A wrong token, an ended link (expired, used up, revoked), an
 * invite-only network and a missing one get the same answer after the same work, and all count
 * towards the network's wrong-token throttle.
 */
export async function join(host: NetworkHost, networkId: number, nodeId: number, token: string): Promise<Outcome<{ joinedAt: number }>> {
  if (host.wrongTokens.spent()) {
    return failure(429, "rate_limited", "too many wrong join tokens for this network; wait a minute and retry");
  }
  const [net, links] = await Promise.all([networkWithPlan(host.db, networkId), liveLinks(host.db, networkId, Date.now())]);
  const link = await matchingLink(token, links);
  // An invite-only network never has links; its rule is checked too, so a stray row could not open it.
  if (!net || net.row.joinRule !== "token" || !link) {
    host.wrongTokens.record();
    return failure(403, "join_denied", "no network with this ID takes this join token; check both with the network's owner");
  }
  const existing = await membership(host.db, networkId, nodeId);
  if (existing) return success({ joinedAt: existing.joinedAt });
  return admit(host, net, nodeId, { type: "node", id: nodeId }, "member_joined", link);
}

export async function acceptInvitation(host: NetworkHost, networkId: number, nodeId: number): Promise<Outcome<{ joinedAt: number }>> {
  const invitation = await openInvitation(host.db, networkId, nodeId);
  const net = invitation && (await networkWithPlan(host.db, networkId));
  if (!net) return failure(404, "invitation_not_found", "no open invitation to this network; ask its owner to add you again");
  return admit(host, net, nodeId, { type: "node", id: nodeId }, "invitation_accepted");
}

/**
 * The invited node says no. Nothing reaches the owner's log: any entry would tell the owner that
 * the name it typed belongs to a node, which an invitation to a name nobody has never does. To
 * the owner, a declined invitation looks like one never answered.
 */
export async function declineInvitation(host: NetworkHost, networkId: number, nodeId: number): Promise<Outcome<null>> {
  if (!(await openInvitation(host.db, networkId, nodeId))) return failure(404, "invitation_not_found", "no open invitation to this network");
  await host.db.delete(invitations).where(and(eq(invitations.networkId, networkId), eq(invitations.nodeId, nodeId)));
  return success(null);
}

/**
 * The owner takes back an invitation, naming the node as it is called now or as it was invited.
 * The same work is done, the same audit entry written and the same answer given whether or not a
 * node has the name or was invited.
 */
export async function withdrawInvitation(host: NetworkHost, networkId: number, accountId: number, nodeId: number | null, name: string): Promise<Outcome<null>> {
  if (!(await ownedNetwork(host.db, networkId, accountId))) return networkNotFound();
  const db = host.db;
  const [withdrawn] = await db.batch([
    // By the node the name finds now, or by the name as it was typed (the node may have renamed since).
    db
      .delete(invitations)
      .where(and(eq(invitations.networkId, networkId), or(eq(invitations.nodeId, nodeId ?? 0), eq(invitations.invitedAs, name))))
      .returning({ nodeId: invitations.nodeId }),
    db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "invitation_withdrawn", targetName: name, at: Date.now() }),
  ]);
  for (const w of withdrawn) host.notify(w.nodeId, { type: "invitation_ended", network_id: networkId, reason: "withdrawn" });
  return success(null);
}

/**
 * Ends a membership: committed to D1 first, so the next resolve is already denied, and relayed
 * frames stop before the answer; then the other members are told and the node's channels to this
 * network are closed. (The owner already knows the node is a member, so waiting for its object
 * tells nobody anything.)
 */
export async function remove(host: NetworkHost, networkId: number, actor: Actor, nodeId: number, reason: RemovalReason): Promise<Outcome<null>> {
  const db = host.db;
  const net = await networkWithPlan(db, networkId);
  if (!net || (actor.type === "account" && net.row.accountId !== actor.id)) return networkNotFound();
  if (!(await isMember(db, networkId, nodeId))) {
    return actor.type === "node" ? networkNotFound() : failure(404, "not_member", `node ${nodeId} is not a member of this network`);
  }
  const action = reason === "removed" ? "member_removed" : reason === "left" ? "member_left" : "member_deregistered";
  const revocation = newRevocationId();
  // Who must confirm the cut-off is read in the same batch, before the membership goes.
  const [recordRevocation, expectCuts] = removalStatements(db, { id: revocation, networkId, kind: reason, nodeId, at: Date.now() }, reason !== "deregistered");
  const [, , , , , vouched] = await db.batch([
    recordRevocation,
    expectCuts,
    db.delete(memberships).where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId))),
    db
      .update(networks)
      .set({ memberCount: sql`${networks.memberCount} - 1`, revision: sql`${networks.revision} + 1` })
      .where(eq(networks.id, networkId)),
    db.insert(auditLog).values({ networkId, accountId: networkOwner(networkId), actorType: actor.type, actorId: actor.id, action, targetNodeId: nodeId, at: Date.now() }),
    // Trust this network vouched for ends with the membership that earned it.
    db
      .delete(trustPairs)
      .where(and(eq(trustPairs.networkId, networkId), or(eq(trustPairs.nodeA, nodeId), eq(trustPairs.nodeB, nodeId))))
      .returning(),
  ]);
  await host.regate([nodeId]);
  host.log.info(action, { network_id: networkId, node_id: nodeId, actor_type: actor.type, actor_id: actor.id });
  host.metrics.write("membership", [reason], [networkId, nodeId]);
  host.revoked(networkId, revocation, reason);
  host.deliver(trustEnded(vouched));
  // A deregistered node has no daemon to tell; its inbox is being emptied.
  if (reason !== "deregistered") host.notify(nodeId, { type: "network_removed", network_id: networkId, reason });
  // Everyone hears it, the removed node included (its copy tells it the channel is over), then its channels close.
  host.broadcast({ type: "member_removed", network_id: networkId, revision: net.row.revision + 1, node_id: nodeId, reason });
  host.closeChannels(nodeId);
  return success(null);
}

/** Invitations end at their expiry: deletes those due and tells each invited node; returns when the next one is due. */
export async function expireInvitations(host: NetworkHost, networkId: number): Promise<number | null> {
  const db = host.db;
  const [expired, [next]] = await db.batch([
    db
      .delete(invitations)
      .where(and(eq(invitations.networkId, networkId), lte(invitations.expiresAt, Date.now())))
      .returning({ nodeId: invitations.nodeId }),
    db.select({ at: min(invitations.expiresAt) }).from(invitations).where(eq(invitations.networkId, networkId)),
  ]);
  host.notifyAll(expired, { type: "invitation_ended", network_id: networkId, reason: "expired" });
  return next?.at ?? null;
}

/** A member's endpoints changed: the others hear its new details. */
export async function memberUpdated(host: Pick<NetworkHost, "db" | "broadcast" | "isOnline">, networkId: number, nodeId: number): Promise<void> {
  const [row, net] = await Promise.all([memberRow(host.db, networkId, nodeId), networkWithPlan(host.db, networkId)]);
  if (row && net) host.broadcast({ type: "member_updated", network_id: networkId, member: memberView(networkId, row, host.isOnline(nodeId), net.row.selfTagging) });
}

/**
 * The registry's operator suspended a member (worker/nodes/suspension.ts, which has already
 * committed it): the membership stays, but the others hear it gone, as the member lists now show it.
 * Returns whether it is a member here, still suspended (and so whether its channel must close).
 */
export async function memberSuspended(host: NetworkHost, networkId: number, nodeId: number): Promise<boolean> {
  const row = await memberRow(host.db, networkId, nodeId);
  // Restored before this turn (the suspension's word overtaken): the others keep it, and it its channel.
  if (!row || row.node.suspendedAt === null) return false;
  const revision = await bumpRevisionFor(host, networkId, nodeId);
  if (revision === undefined) return false;
  host.broadcast({ type: "member_removed", network_id: networkId, revision, node_id: nodeId, reason: "suspended" });
  return true;
}

/** The operator lifted a member's suspension: the others hear it back, as a member added. */
export async function memberRestored(host: NetworkHost, networkId: number, nodeId: number): Promise<void> {
  const [row, net] = await Promise.all([memberRow(host.db, networkId, nodeId), networkWithPlan(host.db, networkId)]);
  // Suspended again before this turn (the restore's word overtaken): the others keep it gone.
  if (!row || !net || row.node.suspendedAt !== null) return;
  const revision = await bumpRevisionFor(host, networkId, nodeId);
  if (revision === undefined) return;
  host.broadcast({ type: "member_added", network_id: networkId, revision, member: memberView(networkId, row, host.isOnline(nodeId), net.row.selfTagging) });
}

/** Bumps the network's revision, if the node is a member: the change is one its channel reports. */
async function bumpRevisionFor(host: NetworkHost, networkId: number, nodeId: number): Promise<number | undefined> {
  const row = await host.db
    .update(networks)
    .set({ revision: sql`${networks.revision} + 1` })
    .where(and(eq(networks.id, networkId), sql`EXISTS (SELECT 1 FROM memberships WHERE network_id = ${networkId} AND node_id = ${nodeId})`))
    .returning({ revision: networks.revision })
    .get();
  return row?.revision;
}

/** What a member's channel starts with, the network's revision and its policy, if the node is a member not suspended, and so may hold the channel. */
export async function greetingForMember(host: NetworkHost, networkId: number, nodeId: number): Promise<{ revision: number; policy: PolicyState } | undefined> {
  const net = await networkWithPlan(host.db, networkId);
  // Read in this object's turn: a suspension that ran after the Worker checked the node's token
  // (and closed its channels) is seen here, and the channel is refused.
  const member = net && (await memberRow(host.db, networkId, nodeId));
  if (!net || !member || member.node.suspendedAt !== null) return undefined;
  const policy = await host.policyMemo.read(host.db, net.row);
  return policy && { revision: net.row.revision, policy };
}

/**
 * Makes a registered node a member if the plan has room, in one batch with its audit entry and,
 * for a join, a use of the link it joined with (the link's label goes in the audit entry).
 */
async function admit(
  host: NetworkHost,
  net: NetworkWithPlan,
  nodeId: number,
  actor: Actor,
  action: "member_added" | "member_joined" | "invitation_accepted",
  link?: LiveLink,
): Promise<Outcome<{ joinedAt: number }>> {
  const networkId = net.row.id;
  const node = await nodeById(host.db, nodeId);
  if (!node || node.deregisteredAt !== null || node.suspendedAt !== null) return failure(404, "not_found", "no such node");
  if (net.ownerSuspendedAt !== null) {
    return failure(403, "account_suspended", "the network's owner account is suspended by the registry's operator: the network takes no new members");
  }
  if (net.row.memberCount >= net.maxMembers) {
    return failure(
      403,
      "plan_limit",
      `the network is full: ${net.row.memberCount} of ${net.maxMembers} agents on its owner's plan; remove a member, or (for the owner) ${host.howToGetMore}`,
    );
  }
  const joinedAt = Date.now();
  // Every statement is conditioned on the node still being registered, in one transaction, so a
  // join racing the node's deregistration either lands before it (and is then undone by it) or
  // not at all.
  const ACTIVE = "EXISTS (SELECT 1 FROM nodes WHERE id = ?2 AND deregistered_at IS NULL AND suspended_at IS NULL)";
  const DB = host.db.$client;
  const [inserted] = await DB.batch<{ node_id: number }>([
    DB.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) SELECT ?1, ?2, ?3 WHERE ${ACTIVE} RETURNING node_id`).bind(
      networkId,
      nodeId,
      joinedAt,
    ),
    DB.prepare(`UPDATE networks SET member_count = member_count + 1, revision = revision + 1 WHERE id = ?1 AND ${ACTIVE}`).bind(networkId, nodeId),
    DB.prepare("DELETE FROM invitations WHERE network_id = ?1 AND node_id = ?2").bind(networkId, nodeId),
    DB.prepare(
      `INSERT INTO audit_log (network_id, account_id, actor_type, actor_id, action, target_node_id, target_name, at)
       SELECT ?1, (SELECT account_id FROM networks WHERE id = ?1), ?3, ?4, ?5, ?2, ?7, ?6 WHERE ${ACTIVE}`,
    ).bind(networkId, nodeId, actor.type, actor.id, action, joinedAt, link?.label ?? null),
    // The network's object runs joins one at a time, so the link had a use left when it was read;
    // the table's check (uses <= max_uses) would fail the whole batch if it had not.
    ...(link ? [DB.prepare(`UPDATE join_links SET uses = uses + 1 WHERE id = ?1 AND ${ACTIVE}`).bind(link.id, nodeId)] : []),
  ]);
  const added = inserted?.results ?? [];
  if (added.length === 0) return failure(404, "not_found", "no such node");
  const how = action === "member_added" ? "added" : action === "member_joined" ? "joined" : "invitation_accepted";
  host.log.info(action, { network_id: networkId, node_id: nodeId, actor_type: actor.type, actor_id: actor.id, join_link_id: link?.id ?? null });
  host.metrics.write("membership", [how], [networkId, nodeId]);
  host.notify(nodeId, { type: "network_added", network_id: networkId, name: net.row.name, how });
  host.broadcast({
    type: "member_added",
    network_id: networkId,
    revision: net.row.revision + 1,
    member: memberView(networkId, { node, joinedAt, tags: [] }, host.isOnline(nodeId), net.row.selfTagging),
  });
  return success({ joinedAt });
}
