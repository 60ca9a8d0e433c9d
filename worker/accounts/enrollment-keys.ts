/**
 * Enrollment keys: made, listed and revoked by their account, and at registration, where a usable
 * key makes its account the node's owner. Only the key's SHA-256 is stored; its value is shown once.
 */
import type { CreateEnrollmentKeyRequest } from "@pilot/protocol";
import { and, desc, eq, gt, isNull, lt, or, sql } from "drizzle-orm";
import type { z } from "zod";
import { newSecret, sha256Hex } from "../auth/secrets.ts";
import type { Database } from "../db/client.ts";
import { accounts, enrollmentKeys, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { recordCredentialEvent } from "./audit.ts";
import { refuseSuspended } from "./suspension.ts";

/** A single-use key may be used once; a reusable one as often as its limit says, if it has one. */
export async function createEnrollmentKey(db: Database, accountId: number, req: z.output<typeof CreateEnrollmentKeyRequest>) {
  const key = newSecret("pek");
  const now = Date.now();
  const keyHash = await sha256Hex(key);
  // Recorded in the account's trail in the same batch.
  const [[row]] = await db.batch([
    db
      .insert(enrollmentKeys)
      .values({
        accountId,
        description: req.description,
        keyHash,
        reusable: req.reusable,
        maxUses: req.reusable ? (req.max_uses ?? null) : 1,
        expiresAt: req.expires_in_seconds === undefined ? null : now + req.expires_in_seconds * 1000,
        createdAt: now,
      })
      .returning(),
    recordCredentialEvent(db, "enrollment_key", "created", eq(enrollmentKeys.keyHash, keyHash), now),
  ]);
  return { row: row!, key };
}

/** The account's keys, newest first, revoked ones too. */
export const enrollmentKeysOf = (db: Database, accountId: number) =>
  db.select().from(enrollmentKeys).where(eq(enrollmentKeys.accountId, accountId)).orderBy(desc(enrollmentKeys.id));

/** Revokes a key, recorded in the account's trail in the same batch (only if this revoked it). */
export async function revokeEnrollmentKey(db: Database, accountId: number, id: number) {
  const now = Date.now();
  const [[row]] = await db.batch([
    db
      .update(enrollmentKeys)
      .set({ revokedAt: now })
      .where(and(eq(enrollmentKeys.id, id), eq(enrollmentKeys.accountId, accountId), isNull(enrollmentKeys.revokedAt)))
      .returning(),
    recordCredentialEvent(db, "enrollment_key", "revoked", and(eq(enrollmentKeys.id, id), eq(enrollmentKeys.accountId, accountId), eq(enrollmentKeys.revokedAt, now))!, now),
  ]);
  if (!row) throw new ApiError(404, "not_found", "no such active enrollment key in this account");
  return row;
}

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
 * Returns the account, and whether a use must be spent. A suspended account's keys register nothing.
 */
export async function checkEnrollmentKey(db: Database, key: string, node: NodeRow | undefined): Promise<{ accountId: number; spend: boolean }> {
  const keyHash = await sha256Hex(key);
  const row = await db
    .select({
      accountId: enrollmentKeys.accountId,
      revokedAt: enrollmentKeys.revokedAt,
      usable: sql<number>`${usable(keyHash, Date.now())}`,
      suspendedAt: accounts.suspendedAt,
      suspendedReason: accounts.suspendedReason,
    })
    .from(enrollmentKeys)
    .innerJoin(accounts, eq(accounts.id, enrollmentKeys.accountId))
    .where(eq(enrollmentKeys.keyHash, keyHash))
    .get();
  if (!row || row.revokedAt !== null) throw refused();
  refuseSuspended(row);
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
