/**
 * Recording a revocation: its ID, and the daemons expected to confirm their cut-off (each with the
 * peer it must cut), written by the change that revokes in the same D1 batch as the change itself,
 * so a revocation exists exactly when the change does.
 *
 * A change that cuts peers off calls `removalStatements`, `untrustStatements` or `policyStatements`
 * (each reads who must confirm inside the batch), or `revocationStatements` with the cuts it knows
 * of, then stamps `answered` once the change is in force and its pushes go out.
 */
import { encodeBase64Url, type RevocationKind } from "@pilot/protocol";
import { eq, sql, type SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client.ts";
import { revocationCuts, revocations, trustPairs } from "../db/schema.ts";

export interface Revocation {
  id: string;
  networkId: number | null;
  kind: RevocationKind;
  /** The node the change is about: the one removed, the one that revoked its trust, the one retagged (0: none, the owner's policy). */
  nodeId: number;
  at: number;
}

/** One daemon's expected confirmation: `nodeId` cuts `peer` off (0: every member of the network). */
export interface Cut {
  nodeId: number;
  peer: number;
}

/** 128 random bits: a revocation's ID tells nothing and cannot be guessed. */
export const newRevocationId = () => `rv_${encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)))}`;

const revocationRow = (r: Revocation) => ({ id: r.id, networkId: r.networkId, kind: r.kind, nodeId: r.nodeId, createdAt: r.at });

/** D1 binds at most 100 values to a statement: cuts (3 values each) are inserted this many at a time. */
const CUTS_PER_STATEMENT = 33;

/**
 * The revocation and the cuts it expects, as statements for the change's own batch (put them
 * after any statement whose result the change reads by position: their number depends on the cuts).
 */
export function revocationStatements(db: Database, r: Revocation, cuts: readonly [Cut, ...Cut[]]): [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]] {
  const rows = cuts.map((c) => ({ revocationId: r.id, nodeId: c.nodeId, peer: c.peer }));
  const inserts = [];
  for (let i = 0; i < rows.length; i += CUTS_PER_STATEMENT) inserts.push(db.insert(revocationCuts).values(rows.slice(i, i + CUTS_PER_STATEMENT)));
  return [db.insert(revocations).values(revocationRow(r)), ...inserts];
}

/**
 * A node leaving a network: every other member at this moment must cut it off, and the node
 * itself (unless it has no daemon any more) every member. The members are read inside the batch,
 * so these statements go before the one that deletes the membership.
 */
export function removalStatements(db: Database, r: Revocation & { networkId: number }, nodeHasDaemon: boolean) {
  return [
    db.insert(revocations).values(revocationRow(r)),
    db.insert(revocationCuts).select(
      sql`SELECT ${r.id}, node_id, CASE WHEN node_id = ${r.nodeId} THEN 0 ELSE ${r.nodeId} END, NULL, NULL, NULL
          FROM memberships WHERE network_id = ${r.networkId} AND (node_id <> ${r.nodeId} OR ${nodeHasDaemon ? 1 : 0} = 1)`,
    ),
  ] as const;
}

/**
 * A change of a network's port policy or of its members' tags: every member at this moment must
 * hold the policy revision the change made and have reset what it forbids (peer 0). The revision
 * and the members are read inside the batch, so these statements go after the one that bumps the
 * revision. Every change records one, even one that only widens access: a member that confirms
 * holds the whole new policy, and the owner sees when each did.
 */
export function policyStatements(db: Database, r: Omit<Revocation, "kind"> & { networkId: number }) {
  return [
    db
      .insert(revocations)
      .select(sql`SELECT ${r.id}, id, 'policy', ${r.nodeId}, ${r.at}, NULL, policy_revision FROM networks WHERE id = ${r.networkId}`),
    db.insert(revocationCuts).select(sql`SELECT ${r.id}, node_id, 0, NULL, NULL, NULL FROM memberships WHERE network_id = ${r.networkId}`),
  ] as const;
}

/**
 * An untrust: both ends of the pair cut each other off. The statements read the pair (`pair`, a
 * condition on trust_pairs naming it, and that it is live) inside the batch, so they go before the
 * one that deletes it, and record nothing if there is no such pair.
 */
export function untrustStatements(db: Database, r: Revocation, pair: SQL) {
  const from = sql`FROM ${trustPairs} WHERE ${pair}`;
  return [
    db.insert(revocations).select(sql`SELECT ${r.id}, NULL, 'untrust', ${r.nodeId}, ${r.at}, NULL, NULL ${from}`),
    db
      .insert(revocationCuts)
      .select(sql`SELECT ${r.id}, node_a, node_b, NULL, NULL, NULL ${from} UNION ALL SELECT ${r.id}, node_b, node_a, NULL, NULL, NULL ${from}`),
  ] as const;
}

/**
 * The change is in force at the registry (committed, relayed frames stopped) and its news goes
 * out now: receipts are timed from this moment.
 */
export async function answered(db: Database, revocationId: string, at = Date.now()): Promise<void> {
  await db.update(revocations).set({ answeredAt: at }).where(eq(revocations.id, revocationId));
}
