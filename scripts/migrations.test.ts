/**
 * The D1 migrations, applied in order to a fresh SQLite database (D1 is SQLite), with data written
 * between them as a registry that ran the older ones would hold it: hand-written data migrations
 * must carry every row over. (The Worker's own tests start from an empty database.)
 */
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { expect, it } from "vitest";

const DIR = "migrations";
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".sql"))
  .sort();

/** Applies these migrations in order, statement by statement as D1 does. */
function migrate(db: DatabaseSync, names: string[]) {
  for (const f of names) {
    for (const statement of readFileSync(`${DIR}/${f}`, "utf8").split("--> statement-breakpoint")) db.exec(statement);
  }
}

/** The migrations before the named one, and it with those after. */
function around(name: string): [string[], string[]] {
  const at = files.findIndex((f) => f.endsWith(`_${name}.sql`));
  if (at < 0) throw new Error(`no migration named ${name}`);
  return [files.slice(0, at), files.slice(at)];
}

it("turns each token-gated network's join token into its default join link, unchanged, and drops the old column", () => {
  const db = new DatabaseSync(":memory:");
  const [before, from] = around("join_links_backfill");
  migrate(db, before);
  db.exec(`INSERT INTO accounts (id, email, password_hash, created_at) VALUES (1, 'a@example.com', 'x', 1)`);
  db.exec(`INSERT INTO networks (id, account_id, name, join_rule, join_token, created_at) VALUES
    (1, 1, 'open', 'token', 'short-ok', 100),
    (2, 1, 'closed', 'invite', NULL, 200),
    (3, 1, 'generated', 'token', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 300)`);
  db.exec(`INSERT INTO nodes (id, public_key, registered_at) VALUES (7, 'k', 1)`);
  db.exec(`INSERT INTO memberships (network_id, node_id, joined_at) VALUES (1, 7, 150)`);
  migrate(db, from);
  expect(db.prepare("SELECT network_id, token, label, is_default, max_uses, uses, expires_at, created_at, revoked_at FROM join_links ORDER BY network_id").all()).toEqual([
    { network_id: 1, token: "short-ok", label: "default", is_default: 1, max_uses: null, uses: 0, expires_at: null, created_at: 100, revoked_at: null },
    { network_id: 3, token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", label: "default", is_default: 1, max_uses: null, uses: 0, expires_at: null, created_at: 300, revoked_at: null },
  ]);
  const columns = db.prepare("SELECT name FROM pragma_table_info('networks')").all().map((c) => c["name"]);
  expect(columns).not.toContain("join_token");
  expect(db.prepare("SELECT count(*) AS n FROM networks").get()).toEqual({ n: 3 });
  expect(db.prepare("SELECT network_id, node_id FROM memberships").all()).toEqual([{ network_id: 1, node_id: 7 }]);
});

it("keeps every audit entry through the audit log's rebuild, each owned by its network's account, and no longer ties entries to their network", () => {
  const db = new DatabaseSync(":memory:");
  const [before, from] = around("audit_owner_backfill");
  migrate(db, before);
  db.exec(`INSERT INTO accounts (id, email, password_hash, created_at) VALUES (1, 'a@example.com', 'x', 1), (2, 'b@example.com', 'x', 1)`);
  db.exec(`INSERT INTO networks (id, account_id, name, join_rule, created_at) VALUES (1, 1, 'first', 'invite', 10), (2, 2, 'second', 'invite', 20)`);
  db.exec(`INSERT INTO audit_log (id, network_id, actor_type, actor_id, action, target_node_id, target_name, at) VALUES
    (5, 1, 'account', 1, 'network_created', NULL, NULL, 10),
    (6, 2, 'account', 2, 'network_created', NULL, NULL, 20),
    (9, 1, 'node', 7, 'member_left', 7, 'lab', 30)`);
  migrate(db, from);
  expect(db.prepare("SELECT id, network_id, account_id, actor_type, actor_id, action, target_node_id, target_name, at FROM audit_log ORDER BY id").all()).toEqual([
    { id: 5, network_id: 1, account_id: 1, actor_type: "account", actor_id: 1, action: "network_created", target_node_id: null, target_name: null, at: 10 },
    { id: 6, network_id: 2, account_id: 2, actor_type: "account", actor_id: 2, action: "network_created", target_node_id: null, target_name: null, at: 20 },
    { id: 9, network_id: 1, account_id: 1, actor_type: "node", actor_id: 7, action: "member_left", target_node_id: 7, target_name: "lab", at: 30 },
  ]);
  // The next entry follows the highest kept, so page cursors stay in order.
  db.exec(`INSERT INTO audit_log (network_id, account_id, actor_type, actor_id, action, at) VALUES (2, 2, 'account', 2, 'policy_changed', 40)`);
  expect(db.prepare("SELECT max(id) AS id FROM audit_log").get()).toEqual({ id: 10 });
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("DELETE FROM networks WHERE id = 1");
  expect(db.prepare("SELECT count(*) AS n FROM audit_log WHERE network_id = 1").get()).toEqual({ n: 2 });
  expect(db.prepare("SELECT name FROM pragma_index_list('audit_log') ORDER BY name").all().map((i) => i["name"])).toEqual(["audit_log_at", "audit_log_network"]);
});
