/**
 * A network's port policy and its members' tags: what the policy is, how the owner changes it and
 * tags members, and how a node's own requested tags reach the networks that let them count. Every
 * change runs inside the network's Durable Object, one at a time with membership changes, is
 * committed to D1 with its audit entry and its revocation (every member confirms it holds the new
 * revision: worker/revocations/record.ts) in one batch, and only then is pushed to the members'
 * channels as `policy_updated`, carrying the whole policy and every member's effective tags: a
 * daemon replaces its copy rather than patching it, so a missed push cannot leave it half-updated.
 */
import { and, eq, sql } from "drizzle-orm";
import { type Member, type Policy, type PolicyRequest, type PushEvent } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { auditLog, memberships, networks, nodes, trustPairs } from "../db/schema.ts";
import { newRevocationId, policyStatements } from "../revocations/record.ts";
import { trustEnded } from "../trust/pairs.ts";
import type { NetworkHost } from "./host.ts";
import { networkOwner } from "./audit.ts";
import { failure, networkNotFound, success, type Outcome } from "./outcome.ts";
import { networkHub } from "./hub.ts";
import { policyState } from "./policy-state.ts";
import { isMember, memberRow, networkIdsOf, ownedNetwork } from "./queries.ts";
import { memberView } from "./views.ts";

/** The policy as the API shows it to the owner. */
export const policyView = (row: { id: number; selfTagging: boolean; policyRules: Policy["rules"]; policyRevision: number }): Policy => ({
  network_id: row.id,
  self_tagging: row.selfTagging,
  rules: row.policyRules,
  revision: row.policyRevision,
});

/**
 * Tells every channel of the network the policy as D1 holds it now. The change that made it
 * recorded `revocation` (see `policyStatements`): its receipts are timed from here.
 */
async function pushPolicy(host: NetworkHost, networkId: number, revocation: string): Promise<void> {
  host.revoked(networkId, revocation, "policy");
  const state = await policyState(host.db, networkId);
  if (state) host.broadcast({ type: "policy_updated", network_id: networkId, ...state } satisfies PushEvent);
}

const bumpRevision = (db: Database, networkId: number) =>
  db
    .update(networks)
    .set({ policyRevision: sql`${networks.policyRevision} + 1` })
    .where(eq(networks.id, networkId));

/** The owner replaces the whole policy. */
export async function setPolicy(host: NetworkHost, networkId: number, accountId: number, policy: PolicyRequest): Promise<Outcome<Policy>> {
  const db = host.db;
  if (!(await ownedNetwork(db, networkId, accountId))) return networkNotFound();
  const revocation = newRevocationId();
  const [[row], , vouched] = await db.batch([
    db
      .update(networks)
      .set({ selfTagging: policy.self_tagging, policyRules: policy.rules, policyRevision: sql`${networks.policyRevision} + 1` })
      .where(eq(networks.id, networkId))
      .returning(),
    db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "policy_changed", at: Date.now() }),
    // Trust opens every port, so trust this network approved on its own (a handshake between
    // members) would let its members step around the rules: it ends once the network has rules,
    // and from then on a handshake between members needs the target's consent.
    db
      .delete(trustPairs)
      .where(and(eq(trustPairs.networkId, networkId), sql`${policy.rules.length} > 0`))
      .returning(),
    // Their number varies, so they come after every statement whose result is read by position.
    ...policyStatements(db, { id: revocation, networkId, nodeId: 0, at: Date.now() }),
  ]);
  await pushPolicy(host, networkId, revocation);
  host.deliver(trustEnded(vouched));
  return success(policyView(row!));
}

/** The owner sets the tags of a member (the whole list; empty clears it). */
export async function tagMember(host: NetworkHost, networkId: number, accountId: number, nodeId: number, tags: readonly string[]): Promise<Outcome<Member>> {
  const db = host.db;
  const net = await ownedNetwork(db, networkId, accountId);
  if (!net) return networkNotFound();
  // Memberships change only in this object's turns, so one checked here is still there below.
  if (!(await isMember(db, networkId, nodeId))) return failure(404, "not_member", `node ${nodeId} is not a member of this network`);
  const revocation = newRevocationId();
  await db.batch([
    db
      .update(memberships)
      .set({ tags: [...tags].sort() })
      .where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId))),
    bumpRevision(db, networkId),
    db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "member_tagged", targetNodeId: nodeId, at: Date.now() }),
    ...policyStatements(db, { id: revocation, networkId, nodeId, at: Date.now() }),
  ]);
  await pushPolicy(host, networkId, revocation);
  const row = await memberRow(db, networkId, nodeId);
  return success(memberView(networkId, row!, host.isOnline(nodeId), net.row.selfTagging));
}

/**
 * A member changed the tags it requests for itself (already in D1). Where the network lets them
 * count, its effective tags changed: logged as the node's own tagging, and pushed.
 */
export async function requestedTagsChanged(host: NetworkHost, networkId: number, nodeId: number): Promise<void> {
  const db = host.db;
  const net = await db.select({ selfTagging: networks.selfTagging }).from(networks).where(eq(networks.id, networkId)).get();
  if (!net?.selfTagging || !(await isMember(db, networkId, nodeId))) return;
  const revocation = newRevocationId();
  await db.batch([
    bumpRevision(db, networkId),
    db.insert(auditLog).values({ networkId, accountId: networkOwner(networkId), actorType: "node", actorId: nodeId, action: "member_tagged", targetNodeId: nodeId, at: Date.now() }),
    ...policyStatements(db, { id: revocation, networkId, nodeId, at: Date.now() }),
  ]);
  await pushPolicy(host, networkId, revocation);
}

/**
 * A node sets the tags it requests for itself (node-level, so one list for all its networks), then
 * each of its networks pushes the change where it counts, before this returns.
 */
export async function setRequestedTags(env: Env, db: Database, nodeId: number, tags: readonly string[]): Promise<string[]> {
  const sorted = [...tags].sort();
  await db.update(nodes).set({ requestedTags: sorted }).where(eq(nodes.id, nodeId));
  await Promise.all((await networkIdsOf(db, nodeId)).map((id) => networkHub(env, id).requestedTagsChanged(id, nodeId)));
  return sorted;
}
