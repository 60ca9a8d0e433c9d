/**
 * The account's own trail: sign-ins (failed ones too), sign-outs, networks made and deleted, API
 * tokens and enrollment keys made and revoked, plan changes. Entries never hold a secret: tokens and
 * keys by ID and name, sign-ins by the address they came from. They end only by age (retention.ts).
 */
import type { AccountAuditAction, AccountAuditEntry, AccountAuditPage } from "@pilot/protocol";
import { and, desc, eq, lt, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { accountAudit, accounts, apiTokens, enrollmentKeys, nodes } from "../db/schema.ts";
import { iso } from "../time.ts";
import type { PageRequest } from "../networks/queries.ts";

type AccountAuditRow = typeof accountAudit.$inferSelect;

export interface AccountEventFields {
  /** Who did it: the account itself unless said otherwise. */
  actor?: AccountAuditRow["actorType"];
  networkId?: number;
  targetId?: number;
  targetName?: string;
  ip?: string | null;
  at?: number;
}

/**
 * The statement that records an event of the account: await it, or put it in a batch with the change
 * it records so that both land or neither does.
 */
export const recordAccountEvent = (db: Database, accountId: number, action: AccountAuditAction, fields: AccountEventFields = {}) =>
  db.insert(accountAudit).values({
    accountId,
    action,
    actorType: fields.actor ?? "account",
    networkId: fields.networkId ?? null,
    targetId: fields.targetId ?? null,
    targetName: fields.targetName ?? null,
    ip: fields.ip ?? null,
    at: fields.at ?? Date.now(),
  });

/**
 * The statement that records the operator's act on an account: the account `where` finds among
 * `accounts`, or the owner of the node it finds among `nodes`. Put it in the act's batch ahead of
 * the change, with the condition the change needs, so the entry lands exactly when the change does.
 */
export function recordOperatorEvent(
  db: Database,
  action: AccountAuditAction,
  { from, where, targetId = null, targetName = null }: { from: typeof accounts | typeof nodes; where: SQL; targetId?: number | null; targetName?: string | null },
) {
  return db.insert(accountAudit).select(
    db
      .select({
        // Every column, in the table's order, as an INSERT … SELECT needs them: a null ID is the next one.
        id: sql<number>`NULL`.as("id"),
        accountId: sql<number>`${from === accounts ? accounts.id : nodes.ownerAccountId}`.as("account_id"),
        actorType: sql<"operator">`'operator'`.as("actor_type"),
        action: sql<AccountAuditAction>`${action}`.as("action"),
        networkId: sql<null>`NULL`.as("network_id"),
        targetId: sql<number | null>`${targetId}`.as("target_id"),
        targetName: sql<string | null>`${targetName}`.as("target_name"),
        ip: sql<null>`NULL`.as("ip"),
        at: sql<number>`${Date.now()}`.as("at"),
      })
      .from(from)
      .where(where),
  );
}

/**
 * Failed sign-ins recorded per account in any hour. Anyone who knows an email can fail to sign in
 * as it, and the per-address rate limit does not bound many addresses: without this cap a stranger
 * could grow someone else's trail (and the database) without end, and bury its real entries. This
 * many an hour still tells the owner that someone is trying.
 */
export const FAILED_SIGN_INS_RECORDED = 20;
const FAILED_SIGN_IN_WINDOW_MS = 3_600_000;

/**
 * Records a failed sign-in in the trail of the account the email names, if there is one. The same
 * statement runs for an email no account has, and the caller runs it after the answer has gone, so
 * neither the answer nor its timing tells a stranger whether the email has an account. The cap's
 * check reads the trail newest first only back to the FAILED_SIGN_INS_RECORDED-th latest failure
 * (which must be older than the window), not a count over the whole trail: under attack that is a
 * few rows, however long the account's trail is.
 */
export const recordFailedSignIn = (db: Database, email: string, ip: string | null, at = Date.now()) =>
  db.$client
    .prepare(
      `INSERT INTO account_audit (account_id, actor_type, action, ip, at)
       SELECT id, 'anonymous', 'sign_in_failed', ?2, ?3 FROM accounts WHERE email = ?1
         AND coalesce((SELECT a.at FROM account_audit a WHERE a.account_id = accounts.id AND a.action = 'sign_in_failed'
                       ORDER BY a.id DESC LIMIT 1 OFFSET ?4 - 1), 0) <= ?3 - ?5`,
    )
    .bind(email, ip, at, FAILED_SIGN_INS_RECORDED, FAILED_SIGN_IN_WINDOW_MS)
    .run();

/** The credentials whose making and revoking the trail records, each with the column that names it. */
const CREDENTIALS = {
  api_token: { table: apiTokens, name: apiTokens.name },
  enrollment_key: { table: enrollmentKeys, name: enrollmentKeys.description },
} as const;

/**
 * The statement that records the making or revoking of the API tokens or enrollment keys `where`
 * finds, for the batch that makes the change (after it): the entry lands with the change or not at
 * all, and names the credential by ID and name, never its value.
 */
export function recordCredentialEvent(db: Database, kind: keyof typeof CREDENTIALS, change: "created" | "revoked", where: SQL, at: number) {
  const { table, name } = CREDENTIALS[kind];
  return db.insert(accountAudit).select(
    db
      .select({
        // Every column, in the table's order, as an INSERT … SELECT needs them: a null ID is the next one.
        id: sql<number>`NULL`.as("id"),
        accountId: table.accountId,
        actorType: sql<"account">`'account'`.as("actor_type"),
        action: sql<AccountAuditAction>`${`${kind}_${change}`}`.as("action"),
        networkId: sql<null>`NULL`.as("network_id"),
        targetId: table.id,
        targetName: name,
        ip: sql<null>`NULL`.as("ip"),
        at: sql<number>`${at}`.as("at"),
      })
      .from(table)
      .where(where),
  );
}

export const accountAuditView = (e: AccountAuditRow): AccountAuditEntry => ({
  id: e.id,
  actor: { type: e.actorType },
  action: e.action,
  network_id: e.networkId,
  target_id: e.targetId,
  target_name: e.targetName,
  ip: e.ip,
  at: iso(e.at),
});

/** A page of the account's trail, newest first. */
export async function accountAuditPage(db: Database, accountId: number, { cursor, limit }: PageRequest): Promise<AccountAuditPage> {
  const rows = await db
    .select()
    .from(accountAudit)
    .where(and(eq(accountAudit.accountId, accountId), cursor === undefined ? undefined : lt(accountAudit.id, Number(cursor))))
    .orderBy(desc(accountAudit.id))
    .limit(limit + 1);
  const shown = rows.slice(0, limit);
  return { entries: shown.map(accountAuditView), next_cursor: rows.length > limit ? String(shown.at(-1)!.id) : null };
}
