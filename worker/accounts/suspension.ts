/**
 * Suspending an account (the admin API, docs/admin.md): its people and their automation are shut
 * out (sessions, API tokens, sign-in, enrollment keys: `403 account_suspended`; its live console
 * views close), and its networks
 * take no new members; what already runs keeps running. Nodes in its networks are often other
 * people's, and cutting them off would punish them for the account's owner; the operator suspends
 * the nodes themselves for that. Restoring gives everything back as it was: nothing was deleted.
 */
import { and, eq, isNotNull, isNull } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { accounts, sessions, type AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { networksOwnedBy } from "../networks/queries.ts";
import { recordOperatorEvent } from "./audit.ts";
import { accountById } from "./directory.ts";

export const accountSuspended = (reason: string | null) =>
  new ApiError(
    403,
    "account_suspended",
    `this account is suspended by the registry's operator${reason ? `: ${reason}` : ""}; contact the registry's operator to have it restored`,
  );

/** Refuses a suspended account, wherever one is authenticated. */
export function refuseSuspended(account: Pick<AccountRow, "suspendedAt" | "suspendedReason">): void {
  if (account.suspendedAt !== null) throw accountSuspended(account.suspendedReason);
}

export async function suspendAccount(env: Env, db: Database, id: number, reason: string | null): Promise<AccountRow> {
  const [, [row], ended] = await db.batch([
    // In the account's trail (read once it is restored), with the reason.
    recordOperatorEvent(db, "account_suspended", { from: accounts, targetName: reason, where: and(eq(accounts.id, id), isNull(accounts.suspendedAt))! }),
    db
      .update(accounts)
      .set({ suspendedAt: Date.now(), suspendedReason: reason })
      .where(and(eq(accounts.id, id), isNull(accounts.suspendedAt)))
      .returning(),
    // Its sessions are refused from now on; the console views they opened close.
    db.select({ idHash: sessions.idHash }).from(sessions).where(eq(sessions.accountId, id)),
  ]);
  if (!row) {
    await accountById(db, id);
    throw new ApiError(409, "already_suspended", `account ${id} is already suspended`);
  }
  const owned = await networksOwnedBy(db, id);
  await Promise.all(owned.flatMap((n) => ended.map((s) => networkHub(env, n.row.id).endWatch(s.idHash))));
  return row;
}

export async function restoreAccount(db: Database, id: number): Promise<AccountRow> {
  const [, [row]] = await db.batch([
    recordOperatorEvent(db, "account_restored", { from: accounts, where: and(eq(accounts.id, id), isNotNull(accounts.suspendedAt))! }),
    db
      .update(accounts)
      .set({ suspendedAt: null, suspendedReason: null })
      .where(and(eq(accounts.id, id), isNotNull(accounts.suspendedAt)))
      .returning(),
  ]);
  if (row) return row;
  await accountById(db, id);
  throw new ApiError(409, "not_suspended", `account ${id} is not suspended`);
}
