/** Enrollment keys at registration: a usable key makes its account the node's owner. */
import { and, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import { sha256Hex } from "../auth/secrets.ts";
import type { Database } from "../db/client.ts";
import { enrollmentKeys, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

const usable = (keyHash: string, now: number) =>
  and(
    eq(enrollmentKeys.keyHash, keyHash),
    isNull(enrollmentKeys.revokedAt),
    or(isNull(enrollmentKeys.expiresAt), gt(enrollmentKeys.expiresAt, now)),
    or(isNull(enrollmentKeys.maxUses), lt(enrollmentKeys.uses, enrollmentKeys.maxUses)),
  );

const refused = () =>
  new ApiError(403, "enrollment_key_invalid", "the enrollment key is unknown, revoked, expired or used up; ask the account for a new one");

/**
 * Checks a key without using it, so a request that fails later has not spent a use. A node the
 * key's account already owns needs no use at all (a daemon restarting with its key keeps working).
 * Returns the account, and whether a use must be spent.
 */
export async function checkEnrollmentKey(db: Database, key: string, node: NodeRow | undefined): Promise<{ accountId: number; spend: boolean }> {
  const keyHash = await sha256Hex(key);
  const row = await db
    .select({ accountId: enrollmentKeys.accountId, revokedAt: enrollmentKeys.revokedAt, usable: sql<number>`${usable(keyHash, Date.now())}` })
    .from(enrollmentKeys)
    .where(eq(enrollmentKeys.keyHash, keyHash))
    .get();
  if (!row || row.revokedAt !== null) throw refused();
  const owned = node !== undefined && node.deregisteredAt === null && node.ownerAccountId === row.accountId;
  if (!owned && !row.usable) throw refused();
  return { accountId: row.accountId, spend: !owned };
}

/** Spends one use of the key in a single conditional update; returns the owning account. */
export async function redeemEnrollmentKey(db: Database, key: string): Promise<number> {
  const row = await db
    .update(enrollmentKeys)
    .set({ uses: sql`${enrollmentKeys.uses} + 1` })
    .where(usable(await sha256Hex(key), Date.now()))
    .returning({ accountId: enrollmentKeys.accountId })
    .get();
  if (!row) throw refused();
  return row.accountId;
}
