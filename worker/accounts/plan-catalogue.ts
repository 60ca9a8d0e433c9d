/**
 * The plans an operator offers and which plan each account is on (the admin API, docs/admin.md).
 * An account moved to a plan smaller than what it uses keeps everything it has: the limits are
 * checked when it creates a network or a node joins one, never applied to what exists.
 */
import { and, asc, count, eq, exists, ne, sql } from "drizzle-orm";
import type { Plan } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { accounts, plans } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { recordOperatorEvent } from "./audit.ts";
import { accountById } from "./directory.ts";

/** The plan accounts get at sign-up (the column's default), which can therefore never be deleted. */
export const DEFAULT_PLAN = "free";

const planNotFound = (id: string) => new ApiError(404, "plan_not_found", `no plan named ${id}; GET /v1/admin/plans lists them`);

export async function listPlans(db: Database): Promise<Plan[]> {
  const rows = await db
    .select({ plan: plans.id, max_networks: plans.maxNetworks, max_members: plans.maxMembers, accounts: count(accounts.id) })
    .from(plans)
    .leftJoin(accounts, eq(accounts.plan, plans.id))
    .groupBy(plans.id)
    .orderBy(asc(plans.id));
  return rows;
}

/** Creates the plan or changes its limits; whether it was created. */
export async function putPlan(db: Database, id: string, limits: { max_networks: number; max_members: number }): Promise<{ created: boolean; plan: Plan }> {
  const values = { maxNetworks: limits.max_networks, maxMembers: limits.max_members };
  const existed = await db.select({ id: plans.id }).from(plans).where(eq(plans.id, id)).get();
  await db
    .insert(plans)
    .values({ id, ...values })
    .onConflictDoUpdate({ target: plans.id, set: values });
  const plan = (await listPlans(db)).find((p) => p.plan === id)!;
  return { created: existed === undefined, plan };
}

/**
 * Deletes a plan no account is on. The check and the delete are one statement, so an account moved
 * onto the plan meanwhile keeps it from going (and the accounts' foreign key would refuse it anyway).
 */
export async function deletePlan(db: Database, id: string): Promise<void> {
  if (id === DEFAULT_PLAN) throw new ApiError(409, "plan_in_use", `${DEFAULT_PLAN} is the plan new accounts get; change its limits instead`);
  const deleted = await db.$client
    .prepare("DELETE FROM plans WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM accounts WHERE plan = ?1) RETURNING id")
    .bind(id)
    .all();
  if (deleted.results.length > 0) return;
  const [using] = await db.select({ n: count() }).from(accounts).where(eq(accounts.plan, id));
  if (!using || using.n === 0) throw planNotFound(id);
  throw new ApiError(409, "plan_in_use", `${using.n} account(s) are on the ${id} plan; move them to another first (PUT /v1/admin/accounts/{id}/plan)`);
}

/**
 * Moves the account to the plan; what it already has beyond the new limits stays. One batch: the
 * account's trail records the move (by the operator, with the new plan) only if the plan exists and
 * the account was on another one, and the move happens under the same condition, so a plan deleted
 * meanwhile is a 404 rather than a broken foreign key, and a move that changes nothing writes nothing.
 */
export async function setAccountPlan(db: Database, accountId: number, plan: string): Promise<void> {
  const moves = and(eq(accounts.id, accountId), ne(accounts.plan, plan), exists(db.select({ one: sql`1` }).from(plans).where(eq(plans.id, plan))))!;
  await db.batch([recordOperatorEvent(db, "plan_changed", { from: accounts, targetName: plan, where: moves }), db.update(accounts).set({ plan }).where(moves)]);
  // Why nothing moved, if nothing did: the account or the plan is missing (or it was on it already).
  await accountById(db, accountId);
  const known = await db.select({ id: plans.id }).from(plans).where(eq(plans.id, plan)).get();
  if (!known) throw planNotFound(plan);
}
