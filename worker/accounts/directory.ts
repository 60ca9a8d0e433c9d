/**
 * The registry's accounts as its operator sees them (the admin API, docs/admin.md): found by email,
 * plan or suspension, a page at a time, and one account with its usage.
 */
import { and, asc, count, eq, gt, isNotNull, isNull, max, sql } from "drizzle-orm";
import type { AccountDetail, AccountSummary } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { accounts, networks, nodes, plans, type AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { iso, isoOrNull } from "../time.ts";

export interface AccountFilter {
  email?: string | undefined;
  email_contains?: string | undefined;
  plan?: string | undefined;
  suspended?: boolean | undefined;
  cursor?: string | undefined;
  limit: number;
}

export const accountSummary = (a: AccountRow): AccountSummary => ({
  account_id: a.id,
  email: a.email,
  plan: a.plan,
  created_at: iso(a.createdAt),
  suspended_at: isoOrNull(a.suspendedAt),
  suspension_reason: a.suspendedReason,
});

/** Emails are stored lowercased (protocol's Email), so a lowercased needle finds them in any case. */
export async function findAccounts(db: Database, f: AccountFilter): Promise<{ accounts: AccountSummary[]; next_cursor: string | null }> {
  const rows = await db
    .select()
    .from(accounts)
    .where(
      and(
        f.email === undefined ? undefined : eq(accounts.email, f.email.toLowerCase()),
        // instr, not LIKE: a needle's own % and _ must not act as wildcards.
        f.email_contains === undefined ? undefined : sql`instr(${accounts.email}, ${f.email_contains.toLowerCase()}) > 0`,
        f.plan === undefined ? undefined : eq(accounts.plan, f.plan),
        f.suspended === undefined ? undefined : f.suspended ? isNotNull(accounts.suspendedAt) : isNull(accounts.suspendedAt),
        f.cursor === undefined ? undefined : gt(accounts.id, Number(f.cursor)),
      ),
    )
    .orderBy(asc(accounts.id))
    .limit(f.limit + 1);
  const page = rows.slice(0, f.limit);
  return { accounts: page.map(accountSummary), next_cursor: rows.length > f.limit ? String(page.at(-1)!.id) : null };
}

export const accountNotFound = () => new ApiError(404, "account_not_found", "no account with this ID");

export async function accountById(db: Database, id: number): Promise<AccountRow> {
  const row = await db.select().from(accounts).where(eq(accounts.id, id)).get();
  if (!row) throw accountNotFound();
  return row;
}

/** The account, its plan's limits and what it uses of them, in one batch. */
export async function accountDetail(db: Database, id: number): Promise<AccountDetail> {
  // Two selects, not a join: the batch would confuse the two tables' `id` columns.
  const [[row], [plan], [owned], [enrolled]] = await db.batch([
    db.select().from(accounts).where(eq(accounts.id, id)),
    db
      .select()
      .from(plans)
      .where(eq(plans.id, db.select({ plan: accounts.plan }).from(accounts).where(eq(accounts.id, id)))),
    db.select({ networks: count(), largest: max(networks.memberCount) }).from(networks).where(eq(networks.accountId, id)),
    db
      .select({ n: count() })
      .from(nodes)
      .where(and(eq(nodes.ownerAccountId, id), isNull(nodes.deregisteredAt))),
  ]);
  if (!row || !plan) throw accountNotFound();
  return {
    ...accountSummary(row),
    limits: { max_networks: plan.maxNetworks, max_members: plan.maxMembers },
    usage: { networks: owned?.networks ?? 0, largest_network_members: owned?.largest ?? 0, nodes_owned: enrolled?.n ?? 0 },
  };
}
