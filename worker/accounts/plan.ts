import { count, eq } from "drizzle-orm";
import type { Account } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { networks, plans, type AccountRow } from "../db/schema.ts";
import { iso } from "../time.ts";

export interface PlanUsage {
  plan: string;
  max_networks: number;
  max_members: number;
  networks: number;
}

/** The account's plan limits and how many networks it holds. */
export async function planUsage(db: Database, account: AccountRow): Promise<PlanUsage> {
  const [plan, used] = await db.batch([
    db.select().from(plans).where(eq(plans.id, account.plan)),
    db.select({ n: count() }).from(networks).where(eq(networks.accountId, account.id)),
  ]);
  const limits = plan[0] ?? { id: account.plan, maxNetworks: 0, maxMembers: 0 };
  return { plan: limits.id, max_networks: limits.maxNetworks, max_members: limits.maxMembers, networks: used[0]?.n ?? 0 };
}

export const accountView = async (db: Database, account: AccountRow): Promise<Account> => ({
  account_id: account.id,
  email: account.email,
  created_at: iso(account.createdAt),
  plan: await planUsage(db, account),
});
