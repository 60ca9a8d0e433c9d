/**
 * How far a revocation's receipts have come: how many daemons were expected, how many confirmed,
 * the slowest so far and who is still missing. A daemon counts as confirmed once every cut expected
 * of it has its receipt; times are the registry's own, from the change's answer to each receipt.
 */
import type { PendingCut, RevocationKind, RevocationSummary } from "@pilot/protocol";
import { and, countDistinct, desc, eq, inArray, isNull, max, sql } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { memberships, revocationCuts, revocations } from "../db/schema.ts";
import { iso } from "../time.ts";

/** How many of a network's revocations the owner sees. */
export const RECENT_REVOCATIONS = 20;
/** How many of a revocation's daemons that have not confirmed are named; the counts are exact. */
export const PENDING_SHOWN = 100;
/** How many unconfirmed cuts a daemon is handed at once; it asks again after confirming them. */
const PENDING_PAGE = 100;

type RevocationRow = typeof revocations.$inferSelect;

async function summarise(db: Database, rows: RevocationRow[]): Promise<RevocationSummary[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  // Counted in SQL, and only the first pending daemons listed: a network may have thousands.
  const [counts, pending] = await Promise.all([
    db
      .select({
        revocationId: revocationCuts.revocationId,
        expected: countDistinct(revocationCuts.nodeId),
        pending: sql<number>`count(DISTINCT CASE WHEN ${revocationCuts.receivedAt} IS NULL THEN ${revocationCuts.nodeId} END)`,
        last: max(revocationCuts.receivedAt),
      })
      .from(revocationCuts)
      .where(inArray(revocationCuts.revocationId, ids))
      .groupBy(revocationCuts.revocationId),
    db.all<{ revocation_id: string; node_id: number }>(
      sql`SELECT revocation_id, node_id FROM (
            SELECT revocation_id, node_id, row_number() OVER (PARTITION BY revocation_id ORDER BY node_id) AS n
            FROM (SELECT DISTINCT revocation_id, node_id FROM revocation_cuts WHERE received_at IS NULL AND revocation_id IN ${ids}))
          WHERE n <= ${PENDING_SHOWN} ORDER BY node_id`,
    ),
  ]);
  return rows.map((r) => {
    const c = counts.find((x) => x.revocationId === r.id);
    const from = r.answeredAt ?? r.createdAt;
    const expected = c?.expected ?? 0;
    return {
      revocation_id: r.id,
      kind: r.kind as RevocationKind,
      // Node 0 is nobody: the owner changed the policy itself.
      node_id: r.nodeId === 0 ? null : r.nodeId,
      created_at: iso(r.createdAt),
      expected,
      confirmed: expected - (c?.pending ?? 0),
      // A receipt may beat the answer's stamp by a hair (the daemons hear as it is taken): never below 0.
      slowest_ms: c?.last == null ? null : Math.max(0, c.last - from),
      pending: pending.filter((p) => p.revocation_id === r.id).map((p) => p.node_id),
    };
  });
}

/** The network's most recent revocations, newest first. */
export async function networkRevocations(db: Database, networkId: number): Promise<RevocationSummary[]> {
  const rows = await db
    .select()
    .from(revocations)
    .where(eq(revocations.networkId, networkId))
    .orderBy(desc(revocations.createdAt))
    .limit(RECENT_REVOCATIONS);
  return summarise(db, rows);
}

/**
 * One revocation, for its network's owner (no `party`), or for a node party to it: the node it
 * concerns, or one expected to confirm, and for a network's revocation only while it is a member.
 * To anyone else it does not exist.
 */
export async function revocationSummary(db: Database, revocationId: string, party?: number): Promise<RevocationSummary | undefined> {
  // Both reads whether or not the revocation exists or names the node, so neither answer is quicker.
  const [[row], [cut], [member]] = await db.batch([
    db.select().from(revocations).where(eq(revocations.id, revocationId)),
    db
      .select({ nodeId: revocationCuts.nodeId })
      .from(revocationCuts)
      .where(and(eq(revocationCuts.revocationId, revocationId), eq(revocationCuts.nodeId, party ?? 0)))
      .limit(1),
    db
      .select({ nodeId: memberships.nodeId })
      .from(memberships)
      .where(and(eq(memberships.nodeId, party ?? 0), sql`${memberships.networkId} = (SELECT network_id FROM revocations WHERE id = ${revocationId})`))
      .limit(1),
  ]);
  if (!row) return undefined;
  // A network's revocation tells how many members it has and whose daemons are offline: a node
  // reads it only while it is a member (a removed node is a stranger to the network from then on).
  if (party !== undefined && ((row.nodeId !== party && !cut) || (row.networkId !== null && !member))) return undefined;
  return (await summarise(db, [row]))[0];
}

/**
 * The cuts this node has not confirmed yet, newest first: one it cannot confirm (a kind its daemon
 * does not judge) never keeps a newer one from being handed out.
 */
export async function pendingCuts(db: Database, nodeId: number): Promise<PendingCut[]> {
  const rows = await db
    .select({ id: revocations.id, kind: revocations.kind, networkId: revocations.networkId, peer: revocationCuts.peer, revision: revocations.policyRevision })
    .from(revocationCuts)
    .innerJoin(revocations, eq(revocations.id, revocationCuts.revocationId))
    .where(and(eq(revocationCuts.nodeId, nodeId), isNull(revocationCuts.receivedAt)))
    .orderBy(desc(revocations.createdAt))
    .limit(PENDING_PAGE);
  return rows.map((r) => ({
    revocation_id: r.id,
    kind: r.kind as RevocationKind,
    network_id: r.networkId,
    peer: r.peer,
    ...(r.revision === null ? {} : { revision: r.revision }),
  }));
}
