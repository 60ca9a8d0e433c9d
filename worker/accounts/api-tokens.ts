/**
 * API tokens, for an account's automation: made, listed and revoked by the account, and looked up
 * by the account routes' middleware. Only the token's SHA-256 is stored; its value is shown once.
 */
import { and, desc, eq, isNull } from "drizzle-orm";
import { newSecret, sha256Hex } from "../auth/secrets.ts";
import type { Database } from "../db/client.ts";
import { accounts, apiTokens, type AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

export async function createApiToken(db: Database, accountId: number, name: string) {
  const token = newSecret("pat");
  const row = await db
    .insert(apiTokens)
    .values({ accountId, name, tokenHash: await sha256Hex(token), createdAt: Date.now() })
    .returning()
    .get();
  return { row, token };
}

/** The account's tokens, newest first, revoked ones too. */
export const apiTokensOf = (db: Database, accountId: number) =>
  db.select().from(apiTokens).where(eq(apiTokens.accountId, accountId)).orderBy(desc(apiTokens.id));

export async function revokeApiToken(db: Database, accountId: number, id: number) {
  const row = await db
    .update(apiTokens)
    .set({ revokedAt: Date.now() })
    .where(and(eq(apiTokens.id, id), eq(apiTokens.accountId, accountId), isNull(apiTokens.revokedAt)))
    .returning()
    .get();
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
