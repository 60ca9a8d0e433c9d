/**
 * A network's trail, which outlives the network: who may read it (the account that owned the
 * network, also after deleting it), its pages, and the owner each entry is written with.
 */
import type { AuditEntry, AuditPage } from "@pilot/protocol";
import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { auditLog, networks } from "../db/schema.ts";
import type { PageRequest } from "./queries.ts";
import { auditView } from "./views.ts";

/** The network's owner, read in the statement that writes an entry (for entries whose actor is a node). */
export const networkOwner = (networkId: number) => sql<number>`(SELECT ${networks.accountId} FROM ${networks} WHERE ${networks.id} = ${networkId})`;

const entries = (db: Database, networkId: number, { cursor, limit }: PageRequest) =>
  db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.networkId, networkId), cursor === undefined ? undefined : lt(auditLog.id, Number(cursor))))
    .orderBy(desc(auditLog.id))
    .limit(limit + 1);

/**
 * A page of the network's trail for this account, newest first, or undefined if the account neither
 * owns the network nor owned it (its entries say so after deletion): a stranger's network and one
 * that never existed are the same nothing. The same three reads run either way.
 */
export async function trailPage(db: Database, networkId: number, accountId: number, page: PageRequest): Promise<AuditPage | undefined> {
  const [owned, written, rows] = await db.batch([
    db.select({ id: networks.id }).from(networks).where(and(eq(networks.id, networkId), eq(networks.accountId, accountId))),
    // A live network whose every entry aged out is still its owner's, hence both reads.
    db.select({ id: auditLog.id }).from(auditLog).where(and(eq(auditLog.networkId, networkId), eq(auditLog.accountId, accountId))).limit(1),
    entries(db, networkId, page),
  ]);
  if (owned.length === 0 && written.length === 0) return undefined;
  const shown = rows.slice(0, page.limit);
  return { entries: shown.map(auditView), next_cursor: rows.length > page.limit ? String(shown.at(-1)!.id) : null };
}

/** The trail's newest entries, for the owner's live view (which the Worker let in only after checking the owner). */
export async function latestEntries(db: Database, networkId: number, limit: number): Promise<AuditEntry[]> {
  return (await entries(db, networkId, { limit })).slice(0, limit).map(auditView);
}
