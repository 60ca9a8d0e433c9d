/**
 * Trust pairs as their nodes see them: the trust list, revocation, the sweep of pairs that ended
 * by themselves, and telling both ends when a pair ends. Pairs are made by plain D1 statements in
 * handshakes.ts (see there why); reading and deleting them here are single drizzle statements.
 */
import { and, asc, eq, gt, isNotNull, lte, min, or, sql } from "drizzle-orm";
import type { TrustedPeer } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { trustPairs, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { deliverToEach, type Delivery } from "../nodes/delivery.ts";
import { nodeHub } from "../nodes/hub.ts";
import { regate } from "../relay/regate.ts";
import { answered, newRevocationId, untrustStatements } from "../revocations/record.ts";
import { iso, isoOrNull } from "../time.ts";
import { liveTrust } from "./expiry.ts";
import type { Relay } from "./relay.ts";
import { backgroundLog } from "../observability/log.ts";

export async function trustedBy(db: Database, node: NodeRow): Promise<TrustedPeer[]> {
  const rows = await db
    .select()
    .from(trustPairs)
    .where(
      and(
        or(eq(trustPairs.nodeA, node.id), eq(trustPairs.nodeB, node.id)),
        liveTrust(Date.now()),
        // A peer the operator suspended is absent until restored (nodes/suspension.ts); the pair is kept.
        sql`NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.id IN (${trustPairs.nodeA}, ${trustPairs.nodeB}) AND nodes.suspended_at IS NOT NULL)`,
      ),
    )
    .orderBy(asc(trustPairs.createdAt));
  return rows.map((r) => ({
    node_id: r.nodeA === node.id ? r.nodeB : r.nodeA,
    mutual: r.mutual,
    network: r.networkId ?? 0,
    approved_at: iso(r.createdAt),
    expires_at: isoOrNull(r.expiresAt),
  }));
}

/**
 * Deletes the pair at once (the next resolve is denied), with a revocation that both ends' daemons
 * confirm, stops relayed frames between the two before the answer, then tells the peer, best
 * effort. Returns the revocation's ID. A pair that has ended by itself is already gone as far as
 * anyone can tell: the sweep tells its nodes.
 */
export async function revoke({ db, tellLater, regate }: Relay, me: NodeRow, peer: number): Promise<string> {
  const now = Date.now();
  const live = and(eq(trustPairs.nodeA, Math.min(me.id, peer)), eq(trustPairs.nodeB, Math.max(me.id, peer)), liveTrust(now))!;
  const revocation = newRevocationId();
  const [, , [gone]] = await db.batch([
    ...untrustStatements(db, { id: revocation, networkId: null, kind: "untrust", nodeId: me.id, at: now }, live),
    db.delete(trustPairs).where(live).returning(),
  ]);
  if (!gone) throw new ApiError(404, "not_trusted", `node ${peer} is not in this node's trust list`);
  // Either end's object covers both directions of the pair; this one is the caller's own.
  await regate(me.id);
  await answered(db, revocation);
  tellLater(peer, { type: "trust_revoked", node_id: me.id });
  return revocation;
}

/** Both ends of each ended pair hear that the trust is gone (`reason` only where it adds to "revoked"). */
export const trustEnded = (pairs: readonly { nodeA: number; nodeB: number }[], reason?: "expired"): Delivery[] =>
  pairs.flatMap((p) => [
    { nodeId: p.nodeA, event: { type: "trust_revoked", node_id: p.nodeB, ...(reason ? { reason } : {}) } as const },
    { nodeId: p.nodeB, event: { type: "trust_revoked", node_id: p.nodeA, ...(reason ? { reason } : {}) } as const },
  ]);

/**
 * Deletes the pairs that have ended by `now` (those whose smaller node is `nodeA`, or all), stops
 * relayed frames between their nodes, and tells both ends, exactly as an untrust does. Gates
 * already refused these pairs; this makes the end known. Returns how many pairs ended.
 */
export async function sweepExpiredTrust(env: Env, db: Database, now: number, nodeA?: number): Promise<number> {
  const ended = await db
    .delete(trustPairs)
    .where(and(isNotNull(trustPairs.expiresAt), lte(trustPairs.expiresAt, now), nodeA === undefined ? undefined : eq(trustPairs.nodeA, nodeA)))
    .returning({ nodeA: trustPairs.nodeA, nodeB: trustPairs.nodeB });
  if (ended.length === 0) return 0;
  for (const p of ended) backgroundLog.info("trust_expired", { node_a: p.nodeA, node_b: p.nodeB });
  await regate(env, [...new Set(ended.flatMap((p) => [p.nodeA, p.nodeB]))]);
  await deliverToEach(env, trustEnded(ended, "expired"));
  return ended.length;
}

/** The next end among the live pairs whose smaller node is `nodeA`, or null when none has one. */
export async function nextExpiry(db: Database, nodeA: number, now: number): Promise<number | null> {
  const row = await db
    .select({ next: min(trustPairs.expiresAt) })
    .from(trustPairs)
    .where(and(eq(trustPairs.nodeA, nodeA), gt(trustPairs.expiresAt, now)))
    .get();
  return row?.next ?? null;
}

/**
 * Has the pair's smaller node's object sweep at `expiresAt` (its alarm; the hourly cron sweeps what
 * an alarm misses). Failures are logged: the pair counts for nothing after its end regardless.
 */
export async function sweepAt(env: Env, a: number, b: number, expiresAt: number): Promise<void> {
  const nodeA = Math.min(a, b);
  try {
    await nodeHub(env, nodeA).sweepTrustAt(nodeA, expiresAt);
  } catch (e) {
    backgroundLog.error("trust_expiry_schedule_failed", { node_a: a, node_b: b }, e);
  }
}
