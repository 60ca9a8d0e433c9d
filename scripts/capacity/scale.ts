/**
 * The hot requests with a registry's worth of rows: timed over HTTP on a nearly empty registry,
 * then again after 1,000,000 nodes, 65,535 networks (the most there can be), their memberships and
 * trust pairs are written into local D1. The rows are made by SQL inside D1 (a counting recursive
 * CTE), 100,000 to a statement: seconds, and a few hundred MB of disk in the local registry's
 * temporary directory.
 *
 * Which index each request's statements use, and that what they read does not grow with the
 * tables, is the query-plans test's (test/query-plans.test.ts); this measures what it costs.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readlinkSync, statSync } from "node:fs";
import { formatAddress } from "@pilot/protocol";
import { progress, round, summary } from "../bench/measure.ts";
import { SimAgent } from "./agent.ts";
import type { Stage } from "./stage.ts";

/** The most networks there can be: IDs are 16 bits, 0 is the backbone (worker/db/schema.ts). */
export const MAX_NETWORKS = 65_535;
const CHUNK = 100_000;
const SAMPLES = 50;

type Timings = Record<string, ReturnType<typeof summary>>;

/** Writes `nodes` nodes after the highest ID, networks up to the last ID, memberships and trust pairs. */
async function seed(stage: Stage, nodes: number): Promise<{ seconds: number }> {
  const { db, network } = stage;
  const started = performance.now();
  const { m: first } = (await db.prepare("SELECT coalesce(max(id), 0) + 1 AS m FROM nodes").first<{ m: number }>())!;
  const { id: account } = (await db.prepare("SELECT account_id AS id FROM networks WHERE id = ?").bind(network.network_id).first<{ id: number }>())!;
  const { n: from } = (await db.prepare("SELECT max(id) + 1 AS n FROM networks").first<{ n: number }>())!;
  const count = (to: number, start: number) => `WITH RECURSIVE n(i) AS (SELECT ${start} UNION ALL SELECT i + 1 FROM n WHERE i < ${to})`;
  await db.prepare(`INSERT INTO networks (id, account_id, name, join_rule, created_at) ${count(MAX_NETWORKS, from)} SELECT i, ${account}, 'seed-' || i, 'token', 0 FROM n`).run();
  for (let start = first; start < first + nodes; start += CHUNK) {
    const end = Math.min(first + nodes, start + CHUNK) - 1;
    await db.batch([
      db.prepare(`INSERT INTO nodes (id, public_key, registered_at) ${count(end, start)} SELECT i, 'seed-' || i, 0 FROM n`),
      // Every seeded node is in one network, spread over all of them (about 15 each); the measured
      // network gets the first 10,000 of them, so its member list and joins are a large network's.
      db.prepare(
        `INSERT INTO memberships (network_id, node_id, joined_at) ${count(end, start)} SELECT CASE WHEN i < ${first + 10_000} THEN ${network.network_id} ELSE ${from} + i % ${MAX_NETWORKS - from + 1} END, i, 0 FROM n`,
      ),
      // A tenth of them trust a neighbour.
      db.prepare(`INSERT INTO trust_pairs (node_a, node_b, created_at) ${count(end - 1, start)} SELECT i, i + 1, 0 FROM n WHERE i % 10 = 0`),
    ]);
    progress(`scale: ${end - first + 1} nodes written`);
  }
  await db.prepare("UPDATE networks SET member_count = (SELECT count(*) FROM memberships WHERE network_id = networks.id), revision = revision + 1").run();
  return { seconds: round((performance.now() - started) / 1000) };
}

/**
 * The size of the local registry's D1 database on disk, MB: its SQLite file and write-ahead log,
 * found among the files this process's workerd holds open. D1 refuses the pragmas that would tell.
 */
function d1FileMb(): number {
  const children = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  let bytes = 0;
  for (const line of children.trim().split("\n")) {
    const [pid, comm] = line.trim().split(/\s+/);
    if (comm !== "workerd") continue;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const file = readlinkSafe(`/proc/${pid}/fd/${fd}`);
      if (file?.includes("/d1/") && /\.sqlite(-wal)?$/.test(file)) bytes += statSync(file).size;
    }
  }
  return round(bytes / 1e6);
}

function readlinkSafe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined; // closed since it was listed
  }
}

/** The median and p99 of each hot request, made `SAMPLES` times in turn. */
async function timeRequests(stage: Stage, a: SimAgent, b: SimAgent, stranger: SimAgent): Promise<Timings> {
  const id = stage.network.network_id;
  const requests: Record<string, () => Promise<number>> = {
    "resolve a co-member by node ID": () => a.call("GET", `/v1/resolve/${b.nodeId}`),
    "resolve a co-member by address": () => a.call("GET", `/v1/resolve/${formatAddress({ network: id, node: b.nodeId })}`),
    "resolve a stranger (the privacy gate's 404)": () => a.call("GET", `/v1/resolve/${stranger.nodeId}`),
    "the node's trust list": () => a.call("GET", "/v1/trust"),
    "the node's networks": () => a.call("GET", "/v1/nodes/self/networks"),
    "heartbeat": () => a.call("POST", "/v1/nodes/self/heartbeat", {}),
    "member list, first page of 100": async () => {
      await stage.owner.request("GET", `/v1/networks/${id}/members?limit=100`);
      return 200;
    },
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(requests).map((k) => [k, []]));
  for (let i = 0; i < SAMPLES; i++) {
    for (const [name, request] of Object.entries(requests)) {
      const t = performance.now();
      const status = await request();
      times[name]!.push(performance.now() - t);
      if (status >= 500) throw new Error(`${name}: ${status}`);
    }
  }
  // A join: a new node each time, into the large network (its object and D1 both), timed alone.
  const joins: number[] = [];
  for (let i = 0; i < 20; i++) {
    const joiner = await SimAgent.register(stage.registry.url);
    const t = performance.now();
    await joiner.join(id, stage.network.join!.token);
    joins.push(performance.now() - t);
  }
  return { ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, summary(v)])), "join the network (token)": summary(joins) };
}

/**
 * What SQLite itself spends on the search every authenticated request makes, a node's row by its
 * ID: 100,000 such searches at scattered IDs inside one query, D1's own time for it (meta.duration,
 * whole milliseconds, without the trip to the database) divided by 100,000, in microseconds. What
 * D1 adds per query on Cloudflare is not in it.
 */
async function pointReadMicroseconds(stage: Stage, nodes: number): Promise<number> {
  const lookups = 100_000;
  const query = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${lookups})
    SELECT count(nodes.public_key) AS found FROM n JOIN nodes ON nodes.id = (i * 7919) % ${nodes} + 1`;
  const { meta } = await stage.db.prepare(query).all();
  return round((meta.duration * 1000) / lookups);
}

export async function atScale(stage: Stage, nodes: number) {
  const url = stage.registry.url;
  const [a, b, stranger] = [await SimAgent.register(url), await SimAgent.register(url), await SimAgent.register(url)];
  for (const n of [a, b]) await n.join(stage.network.network_id, stage.network.join!.token);
  progress("scale: the hot requests on an empty registry");
  const empty = await timeRequests(stage, a, b, stranger);
  progress(`scale: seeding ${nodes.toLocaleString("en")} nodes and ${MAX_NETWORKS.toLocaleString("en")} networks into local D1`);
  const before = d1FileMb();
  const seeded = { ...(await seed(stage, nodes)), d1_mb_before: before, d1_mb_after: d1FileMb() };
  progress(`scale: the hot requests at ${nodes.toLocaleString("en")} nodes`);
  const full = await timeRequests(stage, a, b, stranger);
  const pointRead = await pointReadMicroseconds(stage, nodes);
  const counts = await stage.db.prepare("SELECT (SELECT count(*) FROM nodes) AS nodes, (SELECT count(*) FROM networks) AS networks, (SELECT count(*) FROM memberships) AS memberships, (SELECT count(*) FROM trust_pairs) AS trust_pairs").first<Record<string, number>>();
  return { rows: counts, seed: seeded, empty_ms: empty, full_ms: full, point_read_us: pointRead };
}
