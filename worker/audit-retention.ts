/**
 * How long audit entries are kept: the networks' trails and the accounts' alike, AUDIT_RETENTION_DAYS
 * (365 unless the operator changes it in wrangler.toml), swept by the hourly cron in bounded batches.
 */
import { inArray, lt } from "drizzle-orm";
import type { Database } from "./db/client.ts";
import { accountAudit, auditLog } from "./db/schema.ts";
import { ApiError } from "./errors.ts";

/** A day at least (so a typo never empties the trails), a hundred years at most. */
const RETENTION_RANGE = [1, 36_500] as const;
/** Rows deleted from each table per statement, and statements per run: a run stays well inside a Worker's limits, and a backlog clears over a few hours. */
export const SWEEP_BATCH = 1000;
export const SWEEP_BATCHES = 10;

export function auditRetentionMs(env: { AUDIT_RETENTION_DAYS: string }): number {
  const text = String(env.AUDIT_RETENTION_DAYS);
  const days = Number(text);
  if (!/^[0-9]+$/.test(text) || days < RETENTION_RANGE[0] || days > RETENTION_RANGE[1]) {
    throw new ApiError(503, "server_misconfigured", `AUDIT_RETENTION_DAYS must be a whole number of days from ${RETENTION_RANGE[0]} to ${RETENTION_RANGE[1]}; its operator must fix it in wrangler.toml`);
  }
  return days * 86_400_000;
}

/** Deletes entries older than the retention, oldest first, at most SWEEP_BATCHES rounds; returns how many went. */
export async function sweepOldAudit(env: { AUDIT_RETENTION_DAYS: string }, db: Database, now: number): Promise<number> {
  const before = now - auditRetentionMs(env);
  let swept = 0;
  for (let round = 0; round < SWEEP_BATCHES; round++) {
    const [trail, account] = await db.batch([
      db
        .delete(auditLog)
        .where(inArray(auditLog.id, db.select({ id: auditLog.id }).from(auditLog).where(lt(auditLog.at, before)).orderBy(auditLog.at).limit(SWEEP_BATCH)))
        .returning({ id: auditLog.id }),
      db
        .delete(accountAudit)
        .where(inArray(accountAudit.id, db.select({ id: accountAudit.id }).from(accountAudit).where(lt(accountAudit.at, before)).orderBy(accountAudit.at).limit(SWEEP_BATCH)))
        .returning({ id: accountAudit.id }),
    ]);
    swept += trail.length + account.length;
    if (trail.length < SWEEP_BATCH && account.length < SWEEP_BATCH) break;
  }
  return swept;
}
