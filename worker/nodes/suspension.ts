/**
 * Suspending a node (the admin API, docs/admin.md): the registry's operator cuts it off as a removal
 * would, at once, but keeps what it holds (memberships, trust pairs, hostname, node ID) for its
 * restoration. While it is suspended every gate and view treats it as absent: resolve, paths and the
 * relay deny it exactly as a missing node (worker/privacy.ts), member and trust lists leave it out,
 * and it gets no token, certificate or registration (`403 node_suspended`, to the node alone: only
 * it can prove its key). Daemons that held it as a co-member hear `member_removed` (reason
 * `suspended`) on each network's channel, and its trust peers `trust_revoked` (reason `suspended`);
 * restoring tells them `member_added` and `trust_restored`, so each daemon's state follows the
 * registry's whichever way it learns it (an event, or a resync of the lists). A step of telling
 * others that fails is logged and the rest still run: D1 holds the change, every gate follows it at
 * once, and each daemon's next resync reads lists that already show it.
 */
import { and, eq, isNotNull, isNull, or, sql, type SQL } from "drizzle-orm";
import type { NodeSuspension } from "@pilot/protocol";
import { recordOperatorEvent } from "../accounts/audit.ts";
import type { Database } from "../db/client.ts";
import { nodes, trustPairs, type NodeRow } from "../db/schema.ts";
import { ApiError, nodeNotFound } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { networkIdsOf } from "../networks/queries.ts";
import { isoOrNull } from "../time.ts";
import { liveTrust } from "../trust/expiry.ts";
import { attempt, deliverToEach, fanOut } from "./delivery.ts";
import { nodeHub } from "./hub.ts";
import { nodeById } from "./queries.ts";

/** What the node itself is told when it asks for a token, a certificate or a registration. */
export const nodeSuspended = (reason: string | null) =>
  new ApiError(
    403,
    "node_suspended",
    `this node is suspended by the registry's operator${reason ? `: ${reason}` : ""}; contact the registry's operator to have it restored (it keeps its networks and trust)`,
  );

/** Refuses a suspended node, where it proves who it is. */
export function refuseSuspendedNode(node: Pick<NodeRow, "suspendedAt" | "suspendedReason">): void {
  if (node.suspendedAt !== null) throw nodeSuspended(node.suspendedReason);
}

export const suspensionView = (n: NodeRow): NodeSuspension => ({ node_id: n.id, suspended_at: isoOrNull(n.suspendedAt), suspension_reason: n.suspendedReason });

/** Why a suspension or restoration changed nothing: no such node, or it already stands so. */
async function unchanged(db: Database, id: number, suspended: boolean): Promise<never> {
  const node = await nodeById(db, id);
  if (!node || node.deregisteredAt !== null) throw nodeNotFound();
  throw suspended
    ? new ApiError(409, "already_suspended", `node ${id} is already suspended`)
    : new ApiError(409, "not_suspended", `node ${id} is not suspended`);
}

/** The peers of the node's trust pairs that have not ended. */
const trustPeers = (db: Database, id: number) =>
  db
    .select({ peer: sql<number>`CASE WHEN ${trustPairs.nodeA} = ${id} THEN ${trustPairs.nodeB} ELSE ${trustPairs.nodeA} END` })
    .from(trustPairs)
    .where(and(or(eq(trustPairs.nodeA, id), eq(trustPairs.nodeB, id)), liveTrust(Date.now())));

/** The statement that tells the node's owner, in its account's trail, of the operator's act, if the node has an owner and `state` holds (before the change). */
const toOwnersTrail = (db: Database, id: number, action: "node_suspended" | "node_restored", state: SQL, reason: string | null = null) =>
  recordOperatorEvent(db, action, {
    from: nodes,
    targetId: id,
    targetName: reason,
    where: and(eq(nodes.id, id), isNull(nodes.deregisteredAt), isNotNull(nodes.ownerAccountId), state)!,
  });

/**
 * Committed to D1 first (the token epoch too, so every token it holds stops working), so the next
 * resolve is denied; relayed frames to and from it stop, and its channels and relay socket close,
 * before the answer; then every network it is in and every trust peer hears of it.
 */
export async function suspendNode(env: Env, db: Database, id: number, reason: string | null): Promise<NodeRow> {
  const [, [row], peers] = await db.batch([
    toOwnersTrail(db, id, "node_suspended", isNull(nodes.suspendedAt), reason),
    db
      .update(nodes)
      .set({ suspendedAt: Date.now(), suspendedReason: reason, tokenEpoch: sql`${nodes.tokenEpoch} + 1` })
      .where(and(eq(nodes.id, id), isNull(nodes.deregisteredAt), isNull(nodes.suspendedAt)))
      .returning(),
    trustPeers(db, id),
  ]);
  if (!row) return unchanged(db, id, true);
  // Closes its sockets and has every relayed path involving it checked afresh (worker/relay/regate.ts).
  await attempt(`close the sockets of suspended node ${id}`, () => nodeHub(env, id).suspended());
  await fanOut(await networkIdsOf(db, id), (networkId) =>
    attempt(`tell network ${networkId} of suspended node ${id}`, () => networkHub(env, networkId).memberSuspended(networkId, id)),
  );
  await deliverToEach(env, peers.map(({ peer }) => ({ nodeId: peer, event: { type: "trust_revoked", node_id: id, reason: "suspended" } })));
  return row;
}

/**
 * Lifts the suspension: the node gets tokens again and is visible as before, without registering
 * again or any peer approving anything; its networks and trust peers are told.
 */
export async function restoreNode(env: Env, db: Database, id: number): Promise<NodeRow> {
  const [, [row], peers] = await db.batch([
    toOwnersTrail(db, id, "node_restored", isNotNull(nodes.suspendedAt)),
    db
      .update(nodes)
      .set({ suspendedAt: null, suspendedReason: null })
      .where(and(eq(nodes.id, id), isNull(nodes.deregisteredAt), isNotNull(nodes.suspendedAt)))
      .returning(),
    trustPeers(db, id),
  ]);
  if (!row) return unchanged(db, id, false);
  await fanOut(await networkIdsOf(db, id), (networkId) =>
    attempt(`tell network ${networkId} of restored node ${id}`, () => networkHub(env, networkId).memberRestored(networkId, id)),
  );
  await deliverToEach(env, peers.map(({ peer }) => ({ nodeId: peer, event: { type: "trust_restored", node_id: id } })));
  return row;
}
