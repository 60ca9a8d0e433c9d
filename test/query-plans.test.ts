/**
 * The hot requests' queries stay cheap as the registry grows (docs/capacity.md): every statement a
 * resolve, a join, a member list, a trust list or a heartbeat runs is captured as the Worker (and
 * the network's object) sends it to D1, and must find its rows through an index, never by
 * scanning a table whose size grows with the registry. And what each read statement reads, by D1's
 * own count (meta.rows_read), must not grow when 20,000 more nodes, memberships and trust pairs
 * are added. The same requests at 1,000,000 nodes are timed by `npm run bench -- --only capacity`.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatAddress } from "@pilot/protocol";
import { database } from "../worker/db/client.ts";
import type { NetworkHost } from "../worker/networks/host.ts";
import { join as joinNetwork, remove } from "../worker/networks/membership.ts";
import type { Outcome } from "../worker/networks/outcome.ts";
import { backgroundLog } from "../worker/observability/log.ts";
import { metrics } from "../worker/observability/metrics.ts";
import { PolicyMemo } from "../worker/networks/policy-state.ts";
import { WrongTokens } from "../worker/networks/wrong-tokens.ts";
import { asPerson, call, createNetwork, join, register, signUp, type Registered } from "./helpers.ts";

/** One statement as D1 received it: its SQL and the values bound to it. */
interface Captured {
  sql: string;
  values: unknown[];
}

type Statement = ReturnType<D1Database["prepare"]>;
const statementProto = Object.getPrototypeOf(env.DB.prepare("SELECT 1")) as { bind(this: Statement, ...values: unknown[]): Statement };
const databaseProto = Object.getPrototypeOf(env.DB) as { prepare(this: D1Database, sql: string): Statement };
const originalPrepare = databaseProto.prepare;
const originalBind = statementProto.bind;
const sqlOf = new WeakMap<object, string>();
let capturing: Captured[] | undefined;

beforeAll(() => {
  databaseProto.prepare = function (sql) {
    const statement = originalPrepare.call(this, sql);
    sqlOf.set(statement, sql);
    // A statement without parameters is never bound: record it as prepared.
    capturing?.push({ sql, values: [] });
    return statement;
  };
  statementProto.bind = function (...values) {
    const sql = sqlOf.get(this);
    if (capturing && sql !== undefined) {
      const last = capturing.findLastIndex((c) => c.sql === sql && c.values.length === 0);
      if (last >= 0) capturing.splice(last, 1);
      capturing.push({ sql, values });
    }
    return originalBind.apply(this, values);
  };
});

afterAll(() => {
  databaseProto.prepare = originalPrepare;
  statementProto.bind = originalBind;
});

/** Runs a request and returns every statement sent to D1 while it ran (its object's included). */
async function statementsOf({ request, status }: Hot): Promise<Captured[]> {
  const seen: Captured[] = [];
  capturing = seen;
  try {
    const res = await request();
    expect(res.status, await res.clone().text()).toBe(status);
    await res.arrayBuffer();
  } finally {
    capturing = undefined;
  }
  return seen;
}

/** Every table grows with the registry but the plans, a handful of rows the operator keeps. */
let growing: string[] = [];

/** SQLite's plan for a statement, one line per step (EXPLAIN QUERY PLAN's `detail`). */
async function planOf(c: Captured): Promise<string[]> {
  const { results } = await originalBind.apply(originalPrepare.call(env.DB, `EXPLAIN QUERY PLAN ${c.sql}`), c.values).all<{ detail: string }>();
  return results.map((r) => r.detail);
}

/** The steps of a plan that read a growing table whole: `SCAN t`, or `SCAN t USING … INDEX` (the whole index). */
const fullScans = (plan: string[]) =>
  plan.filter((step) => {
    const m = /^SCAN (\w+)/.exec(step);
    return m !== null && growing.includes(m[1]!);
  });

let owner: Awaited<ReturnType<typeof signUp>>;
let networkId: number;
let token: string;
let a: Registered;
let b: Registered;
/** A node that shares nothing with `a`. */
let stranger: Registered;

/** A hot request, as a node or owner makes it, and the status it gets. */
interface Hot {
  request: () => Promise<Response>;
  status: number;
}

const HOT: Record<string, Hot> = {
  "resolve by node ID": { request: () => call(`/v1/resolve/${b.nodeId}`, { token: a.token }), status: 200 },
  "resolve by address": { request: () => call(`/v1/resolve/${formatAddress({ network: networkId, node: b.nodeId })}`, { token: a.token }), status: 200 },
  "resolve of a stranger (the privacy gate's refusal)": { request: () => call(`/v1/resolve/${stranger.nodeId}`, { token: a.token }), status: 404 },
  "member list": { request: () => asPerson(owner, `/v1/networks/${networkId}/members?limit=100`), status: 200 },
  "trust list": { request: () => call("/v1/trust", { token: a.token }), status: 200 },
  "the node's networks": { request: () => call("/v1/nodes/self/networks", { token: a.token }), status: 200 },
  heartbeat: { request: () => call("/v1/nodes/self/heartbeat", { body: {}, token: a.token }), status: 200 },
};

/** 20,000 more nodes, members of another network, and trust pairs between neighbours. */
async function grow(): Promise<void> {
  const { m } = (await env.DB.prepare("SELECT coalesce(max(id), 0) AS m FROM nodes").first<{ m: number }>())!;
  const other = (await createNetwork(owner)).network_id;
  const range = `WITH RECURSIVE n(i) AS (SELECT ${m + 1} UNION ALL SELECT i + 1 FROM n WHERE i < ${m + 20_000})`;
  await env.DB.batch([
    env.DB.prepare(`INSERT INTO nodes (id, public_key, registered_at) ${range} SELECT i, 'grown-' || i, 0 FROM n`),
    env.DB.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) ${range} SELECT ${other}, i, 0 FROM n`),
    env.DB.prepare(`INSERT INTO trust_pairs (node_a, node_b, network_id, created_at) ${range} SELECT i, i + 1, NULL, 0 FROM n WHERE i % 2 = 0 AND i < ${m + 20_000}`),
  ]);
}

/** What each read statement of a request reads, by D1's count. */
async function rowsRead(statements: Captured[]): Promise<number[]> {
  const reads = statements.filter((s) => /^\s*select/i.test(s.sql));
  return Promise.all(reads.map(async (s) => (await originalBind.apply(originalPrepare.call(env.DB, s.sql), s.values).all()).meta.rows_read));
}

beforeAll(async () => {
  const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>();
  growing = tables.results.map((t) => t.name).filter((name) => name !== "plans");
  expect(growing).toEqual(expect.arrayContaining(["nodes", "memberships", "trust_pairs", "networks", "join_links", "revocation_cuts"]));
  owner = await signUp();
  await env.DB.prepare("UPDATE accounts SET plan = 'pro' WHERE id = ?").bind(owner.accountId).run();
  const net = await createNetwork(owner);
  networkId = net.network_id;
  token = net.join!.token;
  [a, b, stranger] = [await register(), await register(), await register()];
  for (const n of [a, b]) expect((await join(n, networkId, token)).status).toBe(200);
});

it("the check itself: a statement that reads a growing table whole is caught", async () => {
  expect(fullScans(await planOf({ sql: "SELECT id FROM nodes WHERE endpoint = ?", values: ["x"] }))).toEqual([expect.stringMatching(/^SCAN nodes/)]);
  expect(fullScans(await planOf({ sql: "SELECT id FROM nodes WHERE id = ?", values: [1] }))).toEqual([]);
});

it.each(Object.keys(HOT))("%s: every statement finds its rows through an index", async (name) => {
  const statements = await statementsOf(HOT[name]!);
  expect(statements.length).toBeGreaterThan(0);
  for (const s of statements) expect({ sql: s.sql, scans: fullScans(await planOf(s)) }).toEqual({ sql: s.sql, scans: [] });
});

/**
 * What a network's object needs, for running its rules here: the database, and nothing to tell.
 * The object itself runs in another context, out of reach of the capture; its rules are the same.
 */
const quietHost = (): NetworkHost => ({
  db: database(env),
  log: backgroundLog,
  metrics: metrics({}),
  notify: () => undefined,
  notifyAll: () => undefined,
  deliver: () => undefined,
  broadcast: () => undefined,
  isOnline: () => false,
  regate: async () => undefined,
  revoked: () => undefined,
  closeChannels: () => undefined,
  closeAllChannels: () => undefined,
  expireInvitationsAt: async () => undefined,
  cancelInvitationExpiry: async () => undefined,
  wrongTokens: new WrongTokens(),
  policyMemo: new PolicyMemo(),
  howToGetMore: "",
});

/** A membership change as the network's object makes it, as a request for statementsOf. */
const ruled = (rule: () => Promise<Outcome<unknown>>): Hot => ({
  request: async () => {
    const outcome = await rule();
    return new Response(JSON.stringify(outcome), { status: outcome.ok ? 200 : outcome.status });
  },
  status: 200,
});

it.each([
  ["a join", async (n: Registered) => ruled(() => joinNetwork(quietHost(), networkId, n.nodeId, token))],
  ["a removal (its revocation records who must cut the node off)", async (n: Registered) => {
    expect((await join(n, networkId, token)).status).toBe(200);
    return ruled(() => remove(quietHost(), networkId, { type: "account", id: owner.accountId }, n.nodeId, "removed"));
  }],
])("%s, as the network's object runs it: every statement finds its rows through an index", async (_, make) => {
  const statements = await statementsOf(await make(await register()));
  expect(statements.some((s) => /memberships/i.test(s.sql))).toBe(true);
  for (const s of statements) expect({ sql: s.sql, scans: fullScans(await planOf(s)) }).toEqual({ sql: s.sql, scans: [] });
});

it("what the hot reads read does not grow with 20,000 more nodes, memberships and trust pairs", async () => {
  // Grown once first: a read of a range also reads the row after it, once there is one.
  await grow();
  const before: Record<string, number[]> = {};
  const captured: Record<string, Captured[]> = {};
  for (const [name, hot] of Object.entries(HOT)) {
    captured[name] = await statementsOf(hot);
    before[name] = await rowsRead(captured[name]);
  }
  await grow();
  for (const name of Object.keys(HOT)) {
    const after = await rowsRead(captured[name]!);
    // The member list reads a page of the network it lists, which did not change; the rest read single rows.
    expect({ name, after }).toEqual({ name, after: before[name] });
  }
}, 60_000);
