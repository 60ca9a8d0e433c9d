/**
 * Bilateral trust: handshake requests relayed through the registry, decisions, and revocation.
 * D1 holds the truth (pending requests, trust pairs); each node's Durable Object (NodeHub) queues
 * the events for that node and pushes them over its channel.
 *
 * Privacy: the answer to a request is the same whether or not a private target exists, and a
 * target named by hostname is identified to the requester only once trust exists.
 */
import { and, asc, eq, gt, lt, lte, or, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { parseNodeRef, type HandshakeReply, type NodeRef, type PendingHandshake, type TrustedPeer } from "pilot-daemon/protocol";
import { nodeHub, type InboxEvent } from "../../durable-objects/node-hub.ts";
import type { Database } from "../db/client.ts";
import { handshakeRequests, memberships, nodes, trustPairs, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

export const REQUEST_TTL_MS = 7 * 86_400_000;
/** Pending requests a node can hold; further ones are dropped (the sender still hears "sent"). */
export const MAX_PENDING_PER_TARGET = 100;

const pair = (a: number, b: number) => ({ nodeA: Math.min(a, b), nodeB: Math.max(a, b) });
const iso = (ms: number) => new Date(ms).toISOString();

const mine = alias(memberships, "mine");
const theirs = alias(memberships, "theirs");

export interface Relay {
  db: Database;
  env: Env;
}

async function findTarget(db: Database, ref: NodeRef): Promise<NodeRow | undefined> {
  const where =
    ref.kind === "hostname" ? eq(nodes.hostname, ref.hostname) : eq(nodes.id, ref.kind === "id" ? ref.node : ref.address.node);
  const row = await db.query.nodes.findFirst({ where });
  return row && row.deregisteredAt === null ? row : undefined;
}

/** The lowest-numbered network the two share, other than the backbone (which has no rows). */
async function sharedNetwork(db: Database, a: number, b: number): Promise<number | undefined> {
  const row = await db
    .select({ id: mine.networkId })
    .from(mine)
    .innerJoin(theirs, eq(mine.networkId, theirs.networkId))
    .where(and(eq(mine.nodeId, a), eq(theirs.nodeId, b)))
    .orderBy(asc(mine.networkId))
    .get();
  return row?.id;
}

const between = (a: number, b: number) =>
  or(
    and(eq(handshakeRequests.fromNode, a), eq(handshakeRequests.toNode, b)),
    and(eq(handshakeRequests.fromNode, b), eq(handshakeRequests.toNode, a)),
  );

/**
 * Establishes trust (idempotent) and clears requests either way between the two. Returns the
 * requests that were waiting, so each side can be told in the terms it used.
 */
async function establish(db: Database, a: number, b: number, mutual: boolean, networkId: number | null) {
  const [, cleared] = await db.batch([
    db.insert(trustPairs).values({ ...pair(a, b), createdAt: Date.now(), mutual, networkId }).onConflictDoNothing(),
    db.delete(handshakeRequests).where(between(a, b)).returning(),
  ]);
  return cleared;
}

/** Tells `to` that trust with `peer` exists now, naming the peer as `to`'s own request did (if any). */
const approvedEvent = (peer: number, targetName: string, mutual: boolean, network: number | null): InboxEvent => ({
  type: "handshake_approved",
  node_id: peer,
  target: targetName,
  mutual,
  network: network ?? 0,
});

export async function requestHandshake(
  { db, env }: Relay,
  from: NodeRow,
  name: string,
  ref: NodeRef,
  justification: string,
): Promise<HandshakeReply> {
  // What the sender already knows: a node ID it named itself.
  const named = ref.kind === "id" ? ref.node : ref.kind === "address" ? ref.address.node : undefined;
  if (named === from.id || (ref.kind === "hostname" && ref.hostname === from.hostname)) {
    throw new ApiError(400, "invalid_target", "a node cannot handshake with itself");
  }
  const sent: HandshakeReply = named === undefined ? { status: "sent" } : { status: "sent", node_id: named };
  const target = await findTarget(db, ref);
  if (!target) return sent;

  const key = pair(from.id, target.id);
  const existing = await db.select().from(trustPairs).where(and(eq(trustPairs.nodeA, key.nodeA), eq(trustPairs.nodeB, key.nodeB))).get();
  if (existing) return { status: "trusted", node_id: target.id, mutual: existing.mutual, network: existing.networkId ?? 0 };

  const network = await sharedNetwork(db, from.id, target.id);
  if (network !== undefined) {
    await establish(db, from.id, target.id, false, network);
    await nodeHub(env, target.id).deliver(approvedEvent(from.id, String(from.id), false, network));
    return { status: "approved", node_id: target.id, mutual: false, network };
  }

  const now = Date.now();
  const pendingForTarget = await db
    .select({ n: sql<number>`count(*)` })
    .from(handshakeRequests)
    .where(and(eq(handshakeRequests.toNode, target.id), gt(handshakeRequests.expiresAt, now)))
    .get();
  const inserted =
    (pendingForTarget?.n ?? 0) < MAX_PENDING_PER_TARGET
      ? await db
          .insert(handshakeRequests)
          .values({ fromNode: from.id, toNode: target.id, targetName: name, justification, createdAt: now, expiresAt: now + REQUEST_TTL_MS })
          .onConflictDoUpdate({
            target: [handshakeRequests.fromNode, handshakeRequests.toNode],
            // An expired request is replaced; a live one is left as it was (one pending request per pair).
            set: { targetName: name, justification, createdAt: now, expiresAt: now + REQUEST_TTL_MS },
            setWhere: lte(handshakeRequests.expiresAt, now),
          })
          .returning({ createdAt: handshakeRequests.createdAt })
          .get()
      : undefined;

  // Crossing requests approve each other. Checking after inserting means two requests racing
  // each other both see the crossing one, and both establish the same (idempotent) pair.
  const crossing = await db
    .select()
    .from(handshakeRequests)
    .where(and(eq(handshakeRequests.fromNode, target.id), eq(handshakeRequests.toNode, from.id), gt(handshakeRequests.expiresAt, now)))
    .get();
  if (crossing) {
    await establish(db, from.id, target.id, true, null);
    await nodeHub(env, target.id).deliver(approvedEvent(from.id, crossing.targetName, true, null));
    return { status: "approved", node_id: target.id, mutual: true };
  }

  if (inserted?.createdAt === now) {
    await nodeHub(env, target.id).deliver({ type: "handshake_request", node_id: from.id, justification, received_at: iso(now) });
  }
  return sent;
}

export async function pendingFor(db: Database, node: NodeRow): Promise<PendingHandshake[]> {
  const rows = await db
    .select()
    .from(handshakeRequests)
    .where(and(eq(handshakeRequests.toNode, node.id), gt(handshakeRequests.expiresAt, Date.now())))
    .orderBy(asc(handshakeRequests.createdAt));
  return rows.map((r) => ({ node_id: r.fromNode, justification: r.justification, received_at: iso(r.createdAt), expires_at: iso(r.expiresAt) }));
}

const noPending = (from: number) =>
  new ApiError(404, "no_pending_request", `there is no pending handshake request from node ${from}; see GET /v1/handshakes/pending`);

const live = (from: number, to: number) =>
  and(eq(handshakeRequests.fromNode, from), eq(handshakeRequests.toNode, to), gt(handshakeRequests.expiresAt, Date.now()));

export async function approve({ db, env }: Relay, me: NodeRow, from: number): Promise<void> {
  const request = await db.select().from(handshakeRequests).where(live(from, me.id)).get();
  if (!request) throw noPending(from);
  await establish(db, from, me.id, false, null);
  await nodeHub(env, from).deliver(approvedEvent(me.id, request.targetName, false, null));
}

export async function reject({ db, env }: Relay, me: NodeRow, from: number, reason: string): Promise<void> {
  const request = await db.delete(handshakeRequests).where(live(from, me.id)).returning().get();
  if (!request) throw noPending(from);
  // A requester that named us by hostname learns our node ID only from an approval.
  const namedById = parseNodeRef(request.targetName)?.kind !== "hostname";
  await nodeHub(env, from).deliver({ type: "handshake_rejected", target: request.targetName, ...(namedById ? { node_id: me.id } : {}), reason });
}

export async function sweepExpiredRequests(db: Database, now = Date.now()) {
  await db.delete(handshakeRequests).where(lt(handshakeRequests.expiresAt, now));
}

export async function trustedBy(db: Database, node: NodeRow): Promise<TrustedPeer[]> {
  const rows = await db
    .select()
    .from(trustPairs)
    .where(or(eq(trustPairs.nodeA, node.id), eq(trustPairs.nodeB, node.id)))
    .orderBy(asc(trustPairs.createdAt));
  return rows.map((r) => ({
    node_id: r.nodeA === node.id ? r.nodeB : r.nodeA,
    mutual: r.mutual,
    network: r.networkId ?? 0,
    approved_at: iso(r.createdAt),
  }));
}

/** Deletes the pair at once (the next resolve is denied), then tells the peer, best effort. */
export async function revoke({ db, env }: Relay, me: NodeRow, peer: number): Promise<void> {
  const key = pair(me.id, peer);
  const gone = await db
    .delete(trustPairs)
    .where(and(eq(trustPairs.nodeA, key.nodeA), eq(trustPairs.nodeB, key.nodeB)))
    .returning()
    .get();
  if (!gone) throw new ApiError(404, "not_trusted", `node ${peer} is not in this node's trust list; see GET /v1/trust`);
  try {
    await nodeHub(env, peer).deliver({ type: "trust_revoked", node_id: me.id });
  } catch (e) {
    console.error("could not tell node", peer, "of a revocation", e);
  }
}
