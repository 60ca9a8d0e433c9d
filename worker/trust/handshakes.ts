/**
 * Bilateral trust: handshake requests relayed through the registry, and their approval or
 * rejection (the trust list and revocation are in pairs.ts). D1 holds the truth (pending requests,
 * trust pairs); each node's Durable Object (NodeHub) queues the events for that node and pushes
 * them over its channel. Delivery is best effort on top of D1: a node that missed an event re-reads
 * its pending requests and trust list on reconnect.
 *
 * Privacy: the answer to a request is the same, after the same database work (one survey read and
 * one conditional write), whether or not a private target exists; deliveries happen after the
 * answer. A target named by hostname is identified to the requester only once trust exists.
 *
 * The survey, requests and approvals are plain D1 statements: they insert with INSERT … SELECT and
 * ON CONFLICT … WHERE, conditioned on subqueries, with RETURNING, in batches, which drizzle cannot
 * build; the pending list, rejection and the sweep are single drizzle statements.
 */
import { and, asc, eq, gt, isNotNull, lt, notExists, sql } from "drizzle-orm";
import { BEYOND_SCHEMA_STATUS, parseNodeRef, type HandshakeReply, type NodeRef, type PendingHandshake } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { handshakeRequests, nodes, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import type { InboxEvent } from "../nodes/inbox.ts";
import { iso, isoOrNull } from "../time.ts";
import { endOf, shorter } from "./expiry.ts";
import type { Relay } from "./relay.ts";

export const REQUEST_TTL_MS = 7 * 86_400_000;
/** Pending requests a node can hold; further ones are dropped (the sender still hears "sent"). */
export const MAX_PENDING_PER_TARGET = 100;
/**
 * Of those, how many may come from nodes registered in the last day. Fresh nodes cost an attacker
 * little, so a flood of them fills at most half a target's list: the other half stays open to
 * requesters registered for longer, whose requests are then still seen.
 */
export const MAX_PENDING_FROM_NEW_NODES = 50;
export const NEW_NODE_MS = 86_400_000;

/** Tells a node that trust with `peer` exists now, naming the peer as that node's own request did (if any). */
const approvedEvent = (peer: number, targetName: string, mutual: boolean, network: number | null, expiresAt: number | null): InboxEvent => ({
  type: "handshake_approved",
  node_id: peer,
  target: targetName,
  mutual,
  network: network ?? 0,
  expires_at: isoOrNull(expiresAt),
});

/** A pair that ended but is not swept yet is replaced as if it were not there (trust/expiry.ts). */
const REPLACE_ENDED = `ON CONFLICT (node_a, node_b) DO UPDATE
  SET created_at = excluded.created_at, mutual = excluded.mutual, network_id = excluded.network_id, expires_at = excluded.expires_at
  WHERE trust_pairs.expires_at <= excluded.created_at`;

interface Survey {
  id: number;
  /** Null when there is no live trust pair (the column itself is never null). */
  trust_mutual: number | null;
  trust_network: number | null;
  trust_expires: number | null;
  shared_network: number | null;
  crossing_name: string | null;
  crossing_ttl: number | null;
}

/** One read: the target, if registered and not suspended (nodes/suspension.ts), and everything that decides the answer. */
async function survey(DB: D1Database, me: number, ref: NodeRef, now: number): Promise<Survey | null> {
  const pairOf = "node_a = min(?1, t.id) AND node_b = max(?1, t.id) AND (expires_at IS NULL OR expires_at > ?2)";
  const crossing = "FROM handshake_requests WHERE from_node = t.id AND to_node = ?1 AND expires_at > ?2";
  const where = ref.kind === "hostname" ? "t.hostname = ?3" : "t.id = ?3";
  const key = ref.kind === "hostname" ? ref.hostname : ref.kind === "id" ? ref.node : ref.address.node;
  return DB.prepare(
    `SELECT t.id AS id,
            (SELECT mutual FROM trust_pairs WHERE ${pairOf}) AS trust_mutual,
            (SELECT network_id FROM trust_pairs WHERE ${pairOf}) AS trust_network,
            (SELECT expires_at FROM trust_pairs WHERE ${pairOf}) AS trust_expires,
            (SELECT min(a.network_id) FROM memberships a JOIN memberships b ON a.network_id = b.network_id
              JOIN networks n ON n.id = a.network_id
              WHERE a.node_id = ?1 AND b.node_id = t.id AND n.policy_rules = '[]') AS shared_network,
            (SELECT target_name ${crossing}) AS crossing_name,
            (SELECT trust_ttl_seconds ${crossing}) AS crossing_ttl
     FROM nodes t WHERE ${where} AND t.deregistered_at IS NULL AND t.suspended_at IS NULL`,
  )
    .bind(me, now, key)
    .first<Survey>();
}

/**
 * Establishes trust (idempotent) and clears requests either way between the two, in one batch.
 */
async function establish(DB: D1Database, a: number, b: number, mutual: boolean, networkId: number | null, now: number, expiresAt: number | null): Promise<void> {
  await DB.batch([
    DB.prepare(
      `INSERT INTO trust_pairs (node_a, node_b, created_at, mutual, network_id, expires_at) VALUES (min(?1, ?2), max(?1, ?2), ?3, ?4, ?5, ?6) ${REPLACE_ENDED}`,
    ).bind(a, b, now, mutual ? 1 : 0, networkId, expiresAt),
    DB.prepare("DELETE FROM handshake_requests WHERE (from_node = ?1 AND to_node = ?2) OR (from_node = ?2 AND to_node = ?1)").bind(a, b),
  ]);
}

/**
 * `ttlSeconds`: how long the trust should last once approved (undefined: without end). A shared
 * network or a crossing request approves at once, for the shorter of the TTLs involved.
 */
export async function requestHandshake(relay: Relay, from: NodeRow, name: string, ref: NodeRef, justification: string, ttlSeconds?: number): Promise<HandshakeReply> {
  const { tellLater, endsAt } = relay;
  const ttl = ttlSeconds ?? null;
  const DB = relay.db.$client;
  // What the sender already knows: a node ID it named itself.
  const named = ref.kind === "id" ? ref.node : ref.kind === "address" ? ref.address.node : undefined;
  if (named === from.id || (ref.kind === "hostname" && ref.hostname === from.hostname)) {
    throw new ApiError(BEYOND_SCHEMA_STATUS, "invalid_target", "a node cannot handshake with itself");
  }
  const now = Date.now();
  const found = await survey(DB, from.id, ref, now);

  // Answers that reveal the target are given only where the target has consented: trust exists,
  // a shared network vouches for the pair, or the target asked us first.
  if (found && found.trust_mutual !== null) {
    return { status: "trusted", node_id: found.id, mutual: found.trust_mutual === 1, network: found.trust_network ?? 0, expires_at: isoOrNull(found.trust_expires) };
  }
  if (found?.shared_network != null) {
    const network = found.shared_network;
    const expiresAt = endOf(now, ttl);
    await establish(DB, from.id, found.id, false, network, now, expiresAt);
    endsAt(from.id, found.id, expiresAt);
    tellLater(found.id, approvedEvent(from.id, String(from.id), false, network, expiresAt));
    return { status: "approved", node_id: found.id, mutual: false, network, expires_at: isoOrNull(expiresAt) };
  }
  if (found?.crossing_name != null) {
    const crossingName = found.crossing_name;
    const expiresAt = endOf(now, shorter(ttl, found.crossing_ttl));
    await establish(DB, from.id, found.id, true, null, now, expiresAt);
    endsAt(from.id, found.id, expiresAt);
    tellLater(found.id, approvedEvent(from.id, crossingName, true, null, expiresAt));
    return { status: "approved", node_id: found.id, mutual: true, expires_at: isoOrNull(expiresAt) };
  }

  // From here the answer is "sent" for any name, existing or not, after the same write.
  const target = found?.id ?? 0;
  const [inserted, crossing] = await DB.batch<{ created_at?: number; target_name?: string; trust_ttl_seconds?: number | null }>([
    DB.prepare(
      `INSERT INTO handshake_requests (from_node, to_node, target_name, justification, created_at, expires_at, trust_ttl_seconds)
       SELECT ?1, t.id, ?3, ?4, ?5, ?6, ?10 FROM nodes t
       WHERE t.id = ?2 AND t.deregistered_at IS NULL
         AND (SELECT count(*) FROM handshake_requests WHERE to_node = t.id AND expires_at > ?5) < ?7
         AND ((SELECT registered_at FROM nodes WHERE id = ?1) <= ?5 - ?8
           OR (SELECT count(*) FROM handshake_requests r JOIN nodes s ON s.id = r.from_node
               WHERE r.to_node = t.id AND r.expires_at > ?5 AND s.registered_at > ?5 - ?8) < ?9)
       ON CONFLICT (from_node, to_node) DO UPDATE
         SET target_name = excluded.target_name, justification = excluded.justification,
             created_at = excluded.created_at, expires_at = excluded.expires_at, trust_ttl_seconds = excluded.trust_ttl_seconds
         WHERE handshake_requests.expires_at <= ?5
       RETURNING created_at`,
    ).bind(from.id, target, name, justification, now, now + REQUEST_TTL_MS, MAX_PENDING_PER_TARGET, NEW_NODE_MS, MAX_PENDING_FROM_NEW_NODES, ttl),
    // A crossing request that arrived while ours was being written: both sides will see it.
    DB.prepare("SELECT target_name, trust_ttl_seconds FROM handshake_requests WHERE from_node = ?1 AND to_node = ?2 AND expires_at > ?3").bind(target, from.id, now),
  ]);
  const crossed = crossing?.results[0];
  if (crossed?.target_name !== undefined) {
    const expiresAt = endOf(now, shorter(ttl, crossed.trust_ttl_seconds));
    await establish(DB, from.id, target, true, null, now, expiresAt);
    endsAt(from.id, target, expiresAt);
    tellLater(target, approvedEvent(from.id, crossed.target_name, true, null, expiresAt));
    tellLater(from.id, approvedEvent(target, name, true, null, expiresAt));
  } else if (inserted?.results[0]?.created_at === now) {
    tellLater(target, { type: "handshake_request", node_id: from.id, justification, received_at: iso(now), ttl_seconds: ttl });
  }
  return named === undefined ? { status: "sent" } : { status: "sent", node_id: named };
}

/**
 * A request whose sender the operator suspended is absent, as the sender is (nodes/suspension.ts):
 * not listed, and no approval or rejection takes it. It is kept, and is there again on restore.
 */
const senderSuspended = (db: Database) =>
  db
    .select({ one: sql`1` })
    .from(nodes)
    .where(and(eq(nodes.id, handshakeRequests.fromNode), isNotNull(nodes.suspendedAt)));

export async function pendingFor(db: Database, node: NodeRow): Promise<PendingHandshake[]> {
  const rows = await db
    .select()
    .from(handshakeRequests)
    .where(and(eq(handshakeRequests.toNode, node.id), gt(handshakeRequests.expiresAt, Date.now()), notExists(senderSuspended(db))))
    .orderBy(asc(handshakeRequests.createdAt));
  return rows.map((r) => ({
    node_id: r.fromNode,
    justification: r.justification,
    received_at: iso(r.createdAt),
    expires_at: iso(r.expiresAt),
    ttl_seconds: r.trustTtlSeconds,
  }));
}

const noPending = (from: number) =>
  new ApiError(404, "no_pending_request", `there is no pending handshake request from node ${from}`);

/**
 * One batch: trust is created only if the live request is there (and its sender registered), and
 * the request is taken off the queue (unless its sender is suspended: then it is kept for the
 * restoration, and this is no_pending_request); whichever of approve and reject takes it first
 * wins. The trust lasts for the shorter of the request's TTL and `ttlSeconds` (neither: without
 * end). Returns when the trust ends: a pair that already existed keeps its own end.
 */
export async function approve({ db, tellLater, endsAt }: Relay, me: NodeRow, from: number, ttlSeconds?: number): Promise<number | null> {
  const now = Date.now();
  const DB = db.$client;
  const PAIR = "node_a = min(?1, ?2) AND node_b = max(?1, ?2)";
  const [, taken, , pair] = await DB.batch<{ target_name?: string; expires_at?: number | null }>([
    // min(coalesce(a, b), coalesce(b, a)): the shorter TTL, null only when neither side gave one.
    DB.prepare(
      `INSERT INTO trust_pairs (node_a, node_b, created_at, mutual, network_id, expires_at)
       SELECT min(?1, ?2), max(?1, ?2), ?3, 0, NULL, ?3 + 1000 * min(coalesce(r.trust_ttl_seconds, ?4), coalesce(?4, r.trust_ttl_seconds))
       FROM handshake_requests r
       WHERE r.from_node = ?1 AND r.to_node = ?2 AND r.expires_at > ?3
         AND EXISTS (SELECT 1 FROM nodes WHERE id = ?1 AND deregistered_at IS NULL AND suspended_at IS NULL)
       ${REPLACE_ENDED}`,
    ).bind(from, me.id, now, ttlSeconds ?? null),
    DB.prepare(
      `DELETE FROM handshake_requests WHERE from_node = ?1 AND to_node = ?2 AND expires_at > ?3
         AND NOT EXISTS (SELECT 1 FROM nodes WHERE id = ?1 AND suspended_at IS NOT NULL) RETURNING target_name`,
    ).bind(from, me.id, now),
    DB.prepare(`DELETE FROM handshake_requests WHERE from_node = ?2 AND to_node = ?1 AND EXISTS (SELECT 1 FROM trust_pairs WHERE ${PAIR})`).bind(from, me.id),
    DB.prepare(`SELECT expires_at FROM trust_pairs WHERE ${PAIR}`).bind(from, me.id),
  ]);
  const request = taken?.results[0];
  if (request?.target_name === undefined) throw noPending(from);
  const expiresAt = pair?.results[0]?.expires_at ?? null;
  endsAt(from, me.id, expiresAt);
  tellLater(from, approvedEvent(me.id, request.target_name, false, null, expiresAt));
  return expiresAt;
}

export async function reject({ db, tellLater }: Relay, me: NodeRow, from: number, reason: string): Promise<void> {
  const request = await db
    .delete(handshakeRequests)
    .where(and(eq(handshakeRequests.fromNode, from), eq(handshakeRequests.toNode, me.id), gt(handshakeRequests.expiresAt, Date.now()), notExists(senderSuspended(db))))
    .returning()
    .get();
  if (!request) throw noPending(from);
  // A requester that named us by hostname learns our node ID only from an approval.
  const namedById = parseNodeRef(request.targetName)?.kind !== "hostname";
  tellLater(from, { type: "handshake_rejected", target: request.targetName, ...(namedById ? { node_id: me.id } : {}), reason });
}

export async function sweepExpiredRequests(db: Database, now = Date.now()) {
  await db.delete(handshakeRequests).where(lt(handshakeRequests.expiresAt, now));
}
