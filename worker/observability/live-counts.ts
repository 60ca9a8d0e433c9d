/**
 * What the registry holds now, counted in D1 for the operator's stats. One statement, one round
 * trip; each count reads its whole table (or index), so it is for an operator's occasional look,
 * not for polling every second (docs/operations.md says what it costs).
 */
import type { LiveCounts } from "@pilot/protocol";
import type { Database } from "../db/client.ts";

const COUNTS = `SELECT
  (SELECT count(*) FROM accounts) AS accounts,
  (SELECT count(*) FROM nodes WHERE deregistered_at IS NULL) AS nodes_registered,
  (SELECT count(*) FROM nodes WHERE deregistered_at IS NOT NULL) AS nodes_deregistered,
  (SELECT count(*) FROM nodes WHERE deregistered_at IS NULL AND endpoint IS NOT NULL) AS nodes_with_endpoint,
  (SELECT count(*) FROM networks) AS networks,
  (SELECT count(*) FROM memberships) AS memberships,
  (SELECT count(*) FROM trust_pairs) AS trust_pairs,
  (SELECT count(DISTINCT revocation_id) FROM revocation_cuts WHERE received_at IS NULL) AS revocations_pending,
  (SELECT count(*) FROM revocation_cuts WHERE received_at IS NULL) AS receipts_pending`;

export async function liveCounts(db: Database): Promise<LiveCounts> {
  const row = await db.$client.prepare(COUNTS).first<LiveCounts>();
  if (!row) throw new Error("the counts query returned no row");
  return row;
}
