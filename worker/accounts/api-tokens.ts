/**
 * API tokens, for an account's automation: made, listed and revoked by the account, and looked up
 * by the account routes' middleware. Only the token's SHA-256 is stored; its value is shown once.
 */
import { and, desc, eq, isNull } from "drizzle-orm";
import { newSecret, sha256Hex } from "../auth/secrets.ts";
import type { Database } from "../db/client.ts";
import { accounts, apiTokens, type AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { recordCredentialEvent } from "./audit.ts";

/** Makes a token, recorded in the account's trail in the same batch. */
export async function createApiToken(db: Database, accountId: number, name: string) {
  const token = newSecret("pat");
  const tokenHash = await sha256Hex(token);
  const now = Date.now();
  const [[row]] = await db.batch([
    db.insert(apiTokens).values({ accountId, name, tokenHash, createdAt: now }).returning(),
    recordCredentialEvent(db, "api_token", "created", eq(apiTokens.tokenHash, tokenHash), now),
  ]);
  return { row: row!, token };
}

/** The account's tokens, newest first, revoked ones too. */
export const apiTokensOf = (db: Database, accountId: number) =>
  db.select().from(apiTokens).where(eq(apiTokens.accountId, accountId)).orderBy(desc(apiTokens.id));

/** Revokes a token, recorded in the account's trail in the same batch (only if this revoked it). */
export async function revokeApiToken(db: Database, accountId: number, id: number) {
  const now = Date.now();
  const [[row]] = await db.batch([
    db
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.id, id), eq(apiTokens.accountId, accountId), isNull(apiTokens.revokedAt)))
      .returning(),
    recordCredentialEvent(db, "api_token", "revoked", and(eq(apiTokens.id, id), eq(apiTokens.accountId, accountId), eq(apiTokens.revokedAt, now))!, now),
  ]);
  if (!row) throw new ApiError(404, "not_found", "no such active API token in this account");
  return row;
}

/** The account an unrevoked token belongs to. */
export async function accountOfApiToken(db: Database, token: string): Promise<AccountRow | undefined> {
  const row = await db
    .select({ account: accounts })
    .from(apiTokens)
    .innerJoin(accounts, eq(accounts.id, apiTokens.accountId))
    .where(and(eq(apiTokens.tokenHash, await sha256Hex(token)), isNull(apiTokens.revokedAt)))
    .get();
  return row?.account;
}
