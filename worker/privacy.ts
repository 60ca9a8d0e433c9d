/**
 * The privacy gate (private by default: docs/security.md) as a single query: a target row comes back only if it is
 * public, is the requester itself, shares a network other than the backbone with the requester,
 * or holds a mutual trust pair with it that has not ended (a time-boxed pair counts for nothing
 * from its end, swept or not: trust/expiry.ts). A node the operator suspended is absent, as target
 * and as requester (nodes/suspension.ts). A denied target and a missing one both yield no row, so
 * callers cannot answer them differently, and both take the same path through the database.
 */
import { and, eq, exists, isNull, ne, or, sql, type SQLWrapper } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { NodeRef } from "@pilot/protocol";
import type { Database } from "./db/client.ts";
import { memberships, nodes, trustPairs, type NodeRow } from "./db/schema.ts";
import { liveTrust } from "./trust/expiry.ts";

const inNetwork = (db: Database, network: number, node: SQLWrapper | number) =>
  exists(db.select({ one: sql`1` }).from(memberships).where(and(eq(memberships.networkId, network), eq(memberships.nodeId, node))));

const mine = alias(memberships, "mine");
const theirs = alias(memberships, "theirs");

const requester = alias(nodes, "requester");

/** The requester and the candidate row (`nodes`) share a network other than the backbone, or hold a mutual trust pair that has not ended. */
const relatedTo = (db: Database, requesterId: number) =>
  or(
    exists(
      db
        .select({ one: sql`1` })
        .from(mine)
        .innerJoin(theirs, eq(mine.networkId, theirs.networkId))
        .where(and(eq(mine.nodeId, requesterId), eq(theirs.nodeId, nodes.id))),
    ),
    exists(
      db
        .select({ one: sql`1` })
        .from(trustPairs)
        .where(
          and(
            eq(trustPairs.nodeA, sql`min(${requesterId}, ${nodes.id})`),
            eq(trustPairs.nodeB, sql`max(${requesterId}, ${nodes.id})`),
            liveTrust(Date.now()),
          ),
        ),
    ),
  );

/**
 * The target, if the requester may see it. Also checks, in the same query, that the requester is
 * still registered at its token's epoch: a revoked requester gets no row either (see isRegistered).
 */
export async function findVisibleNode(db: Database, me: { nodeId: number; epoch: number }, ref: NodeRef): Promise<NodeRow | undefined> {
  const requesterId = me.nodeId;
  const identity =
    ref.kind === "id"
      ? eq(nodes.id, ref.node)
      : ref.kind === "hostname"
        ? eq(nodes.hostname, ref.hostname)
        : and(
            eq(nodes.id, ref.address.node),
            // N:… names a node inside network N: both ends must be members there, or the answer
            // would tell outsiders who belongs to N.
            ref.address.network === 0 ? undefined : and(inNetwork(db, ref.address.network, nodes.id), inNetwork(db, ref.address.network, requesterId)),
          );

  const stillRegistered = exists(
    db
      .select({ one: sql`1` })
      .from(requester)
      .where(and(eq(requester.id, requesterId), eq(requester.tokenEpoch, me.epoch), isNull(requester.deregisteredAt), isNull(requester.suspendedAt))),
  );

  return db
    .select()
    .from(nodes)
    .where(
      and(
        identity,
        isNull(nodes.deregisteredAt),
        isNull(nodes.suspendedAt),
        stillRegistered,
        or(eq(nodes.public, true), eq(nodes.id, requesterId), relatedTo(db, requesterId)),
      ),
    )
    .get();
}

/**
 * Whether two nodes share a network other than the backbone or hold mutual trust: more than one
 * seeing the other only because it is public.
 */
export async function related(db: Database, a: number, b: number): Promise<boolean> {
  const row = await db
    .select({ id: nodes.id })
    .from(nodes)
    .where(and(eq(nodes.id, b), relatedTo(db, a)))
    .get();
  return row !== undefined;
}

/** Whether a node is registered at this token epoch (asked only when a resolve found nothing). */
export async function isRegistered(db: Database, me: { nodeId: number; epoch: number }): Promise<boolean> {
  const row = await db
    .select({ id: nodes.id })
    .from(nodes)
    .where(and(eq(nodes.id, me.nodeId), eq(nodes.tokenEpoch, me.epoch), isNull(nodes.deregisteredAt)))
    .get();
  return row !== undefined;
}

/**
 * Every node that may see this one because of a relation, not because it is public: the other
 * members of its networks (never the backbone) and its trust pairs. Those are the nodes told when
 * the node changes what they hold of it (its identity key).
 */
export async function relatedNodeIds(db: Database, id: number): Promise<number[]> {
  const [coMembers, pairs] = await db.batch([
    db
      .selectDistinct({ id: theirs.nodeId })
      .from(mine)
      .innerJoin(theirs, eq(mine.networkId, theirs.networkId))
      .where(and(eq(mine.nodeId, id), ne(theirs.nodeId, id))),
    db
      .select({ a: trustPairs.nodeA, b: trustPairs.nodeB })
      .from(trustPairs)
      .where(and(or(eq(trustPairs.nodeA, id), eq(trustPairs.nodeB, id)), liveTrust(Date.now()))),
  ]);
  return [...new Set([...coMembers.map((m) => m.id), ...pairs.map((p) => (p.a === id ? p.b : p.a))])];
}
