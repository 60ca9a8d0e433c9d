/**
 * Trust pairs as their nodes see them: the trust list, revocation, and telling both ends when a
 * pair ends. Pairs are made by plain D1 statements in handshakes.ts (see there why); reading and
 * deleting them here are single drizzle statements.
 */
import { and, asc, eq, or } from "drizzle-orm";
import type { TrustedPeer } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { trustPairs, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import type { Delivery } from "../nodes/delivery.ts";
import { answered, newRevocationId, untrustStatements } from "../revocations/record.ts";
import { iso } from "../time.ts";
import type { Relay } from "./relay.ts";

export async function trustedBy(db: Database, node: NodeRow): Promise<TrustedPeer[]> {
  const rows = await db
    .select()
    .from(trustPairs)
    .where(or(eq(trustPairs.nodeA, node.id), eq(trustPairs.nodeB, node.id)))
    .orderBy(asc(trustPairs.createdAt));
  return rows.map((r) => ({
    node_id: r.nodeA === node.id ? r.nodeB : r.nodeA,
    mutual: r.mutual,
    network: r.networkId ?? 0,
    approved_at: iso(r.createdAt),
  }));
}

/**
 * Deletes the pair at once (the next resolve is denied), with a revocation that both ends' daemons
 * confirm, stops relayed frames between the two before the answer, then tells the peer, best
 * effort. Returns the revocation's ID.
 */
export async function revoke({ db, tellLater, regate }: Relay, me: NodeRow, peer: number): Promise<string> {
  const pair = and(eq(trustPairs.nodeA, Math.min(me.id, peer)), eq(trustPairs.nodeB, Math.max(me.id, peer)));
  const revocation = newRevocationId();
  const [, , [gone]] = await db.batch([
    ...untrustStatements(db, { id: revocation, networkId: null, kind: "untrust", nodeId: me.id, at: Date.now() }, peer),
    db.delete(trustPairs).where(pair).returning(),
  ]);
  if (!gone) throw new ApiError(404, "not_trusted", `node ${peer} is not in this node's trust list`);
  // Either end's object covers both directions of the pair; this one is the caller's own.
  await regate(me.id);
  await answered(db, revocation);
  tellLater(peer, { type: "trust_revoked", node_id: me.id });
  return revocation;
}

/** Both ends of each ended pair hear that the trust is gone. */
export const trustEnded = (pairs: readonly { nodeA: number; nodeB: number }[]): Delivery[] =>
  pairs.flatMap((p) => [
    { nodeId: p.nodeA, event: { type: "trust_revoked", node_id: p.nodeB } as const },
    { nodeId: p.nodeB, event: { type: "trust_revoked", node_id: p.nodeA } as const },
  ]);
