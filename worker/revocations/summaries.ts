/**
 * How far a revocation's receipts have come: how many daemons were expected, how many confirmed,
 * the slowest so far and who is still missing. A daemon counts as confirmed once every cut expected
 * of it has its receipt; times are the registry's own, from the change's answer to each receipt.
 */
import type { PendingCut, RevocationKind, RevocationSummary } from "@pilot/protocol";
import { and, asc, desc, eq, inArray, isNull } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { revocationCuts, revocations } from "../db/schema.ts";
import { iso } from "../time.ts";

/** How many of a network's revocations the owner sees. */
export const RECENT_REVOCATIONS = 20;
/** How many unconfirmed cuts a daemon is handed at once; it asks again after confirming them. */
const PENDING_PAGE = 100;

type RevocationRow = typeof revocations.$inferSelect;

async function summarise(db: Database, rows: RevocationRow[]): Promise<RevocationSummary[]> {
  if (rows.length === 0) return [];
  const cuts = await db
    .select({ revocationId: revocationCuts.revocationId, nodeId: revocationCuts.nodeId, receivedAt: revocationCuts.receivedAt })
    .from(revocationCuts)
    .where(
      inArray(
        revocationCuts.revocationId,
        rows.map((r) => r.id),
      ),
    );
  return rows.map((r) => {
    const mine = cuts.filter((c) => c.revocationId === r.id);
    const nodes = new Set(mine.map((c) => c.nodeId));
    const pending = new Set(mine.filter((c) => c.receivedAt === null).map((c) => c.nodeId));
    const received = mine.flatMap((c) => (c.receivedAt === null ? [] : [c.receivedAt]));
    const from = r.answeredAt ?? r.createdAt;
    return {
      revocation_id: r.id,
      kind: r.kind as RevocationKind,
      node_id: r.nodeId,
      created_at: iso(r.createdAt),
      expected: nodes.size,
      confirmed: nodes.size - pending.size,
      // A receipt may beat the answer's stamp by a hair (the daemons hear as it is taken): never below 0.
      slowest_ms: received.length ? Math.max(0, Math.max(...received) - from) : null,
      pending: [...pending].sort((a, b) => a - b),
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
 * concerns, or one expected to confirm. To anyone else it does not exist.
 */
export async function revocationSummary(db: Database, revocationId: string, party?: number): Promise<RevocationSummary | undefined> {
  const row = await db.select().from(revocations).where(eq(revocations.id, revocationId)).get();
  if (!row) return undefined;
  if (party !== undefined && row.nodeId !== party) {
    const cut = await db
      .select({ nodeId: revocationCuts.nodeId })
      .from(revocationCuts)
      .where(and(eq(revocationCuts.revocationId, revocationId), eq(revocationCuts.nodeId, party)))
      .get();
    if (!cut) return undefined;
  }
  return (await summarise(db, [row]))[0];
}

/** The cuts this node has not confirmed yet, oldest first. */
export async function pendingCuts(db: Database, nodeId: number): Promise<PendingCut[]> {
  const rows = await db
    .select({ id: revocations.id, kind: revocations.kind, networkId: revocations.networkId, peer: revocationCuts.peer })
    .from(revocationCuts)
    .innerJoin(revocations, eq(revocations.id, revocationCuts.revocationId))
    .where(and(eq(revocationCuts.nodeId, nodeId), isNull(revocationCuts.receivedAt)))
    .orderBy(asc(revocations.createdAt))
    .limit(PENDING_PAGE);
  return rows.map((r) => ({ revocation_id: r.id, kind: r.kind as RevocationKind, network_id: r.networkId, peer: r.peer }));
}
