/**
 * A token-gated network's join links: several tokens at once, each of which may end by its expiry,
 * by its use limit or by the owner revoking it, without touching the others. The default link is
 * the network's token as it always was: the one its `join` instructions show and that rotation
 * replaces. Changes run inside the network's Durable Object, like membership changes, so a join and
 * the link it uses are one at a time: no two joins can take a link's last use.
 */
import { and, count, desc, eq, gt, isNull, lt, not, or, type SQL } from "drizzle-orm";
import { BEYOND_SCHEMA_STATUS, MAX_JOIN_LINK_LIFETIME_MS, MAX_LIVE_JOIN_LINKS, type CreateJoinLinkRequest } from "@pilot/protocol";
import { sameSecret } from "../auth/secrets.ts";
import type { Database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { auditLog, joinLinks, memberships, type JoinLinkRow } from "../db/schema.ts";
import type { NetworkHost } from "./host.ts";
import { failure, networkNotFound, success, type Outcome } from "./outcome.ts";
import { ownedNetwork } from "./queries.ts";

/** The label of the link a network is created with, and of each that rotation puts in its place. */
export const DEFAULT_LINK_LABEL = "default";

/** Ended links the owner's list shows, newest first; older ones are history nobody needs. */
const LISTED_ENDED_LINKS = 100;

/** The links that join now: not revoked, not expired, not used up. */
const live = (now: number): SQL =>
  and(
    isNull(joinLinks.revokedAt),
    or(isNull(joinLinks.expiresAt), gt(joinLinks.expiresAt, now)),
    or(isNull(joinLinks.maxUses), lt(joinLinks.uses, joinLinks.maxUses)),
  )!;

export const liveLinks = (db: Database, networkId: number, now: number) =>
  db
    .select({ id: joinLinks.id, token: joinLinks.token, label: joinLinks.label })
    .from(joinLinks)
    .where(and(eq(joinLinks.networkId, networkId), live(now)));

export type LiveLink = Awaited<ReturnType<typeof liveLinks>>[number];

/**
 * The live link whose token this is. The token is compared with every live link and with blanks up
 * to MAX_LIVE_JOIN_LINKS, each in constant time, and the loop never stops early, so the work is the
 * same whether a link matched or which, and whether the network exists at all. An ended link is not
 * among the candidates: its token fails exactly as a wrong one does.
 */
export async function matchingLink(token: string, links: readonly LiveLink[]): Promise<LiveLink | undefined> {
  const slots = Math.max(MAX_LIVE_JOIN_LINKS, links.length);
  const same = await Promise.all(Array.from({ length: slots }, (_, i) => sameSecret(token, links[i]?.token ?? "")));
  let found: LiveLink | undefined;
  for (let i = 0; i < slots; i++) {
    const link = links[i];
    if (same[i] && link) found = link;
  }
  return found;
}

/**
 * The network's links, newest first: every live one (at most MAX_LIVE_JOIN_LINKS, so the owner can
 * always see and revoke each) and the newest ended ones; older history is left out.
 */
export async function linkList(db: Database, networkId: number, now: number): Promise<JoinLinkRow[]> {
  const ofNetwork = eq(joinLinks.networkId, networkId);
  const [liveOnes, ended] = await db.batch([
    db.select().from(joinLinks).where(and(ofNetwork, live(now))),
    db
      .select()
      .from(joinLinks)
      .where(and(ofNetwork, not(live(now))))
      .orderBy(desc(joinLinks.id))
      .limit(LISTED_ENDED_LINKS),
  ]);
  return [...liveOnes, ...ended].sort((a, b) => b.id - a.id);
}

/** The owner adds a link, within the limit of live links; its token is the owner's or a generated one. */
export async function createLink(
  host: NetworkHost,
  networkId: number,
  accountId: number,
  request: CreateJoinLinkRequest,
  token: string,
): Promise<Outcome<JoinLinkRow>> {
  const net = await ownedNetwork(host.db, networkId, accountId);
  if (!net) return networkNotFound();
  if (net.row.joinRule !== "token") return failure(409, "network_invite_only", "this network is invite-only: it has no join links");
  const now = Date.now();
  const expiresAt = request.expires_at === undefined ? null : Date.parse(request.expires_at);
  if (expiresAt !== null && expiresAt <= now) return failure(BEYOND_SCHEMA_STATUS, "invalid_request", "expires_at: must be in the future");
  if (expiresAt !== null && expiresAt > now + MAX_JOIN_LINK_LIFETIME_MS) {
    return failure(BEYOND_SCHEMA_STATUS, "invalid_request", "expires_at: must be within ten years; leave it out for a link that does not expire");
  }
  const full = await liveLimitReached(host.db, networkId, now);
  if (full) return full;
  const db = host.db;
  try {
    const [[row]] = await db.batch([
      db
        .insert(joinLinks)
        .values({ networkId, token, label: request.label, maxUses: request.max_uses ?? null, expiresAt, createdAt: now })
        .returning(),
      db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "join_link_created", targetName: request.label, at: now }),
    ]);
    return row ? success(row) : networkNotFound();
  } catch (e) {
    if (violates(e, "join_links.network_id, join_links.token")) return tokenTaken();
    throw e;
  }
}

/** The owner ends one link; the others keep working. Revoking a link already revoked changes nothing. */
export async function revokeLink(host: NetworkHost, networkId: number, accountId: number, linkId: number): Promise<Outcome<null>> {
  if (!(await ownedNetwork(host.db, networkId, accountId))) return networkNotFound();
  const db = host.db;
  const link = await db
    .select()
    .from(joinLinks)
    .where(and(eq(joinLinks.networkId, networkId), eq(joinLinks.id, linkId)))
    .get();
  if (!link) return failure(404, "join_link_not_found", `network ${networkId} has no join link ${linkId}`);
  if (link.revokedAt !== null) return success(null);
  const now = Date.now();
  await db.batch([
    db.update(joinLinks).set({ revokedAt: now }).where(eq(joinLinks.id, linkId)),
    db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "join_link_revoked", targetName: link.label, at: now }),
  ]);
  return success(null);
}

/**
 * Rotation: the default link is revoked and a new one, with no expiry or use limit, takes its place
 * (a network whose default link was revoked gets one again). Other links are untouched; every
 * member is told.
 */
export async function rotateDefaultLink(host: NetworkHost, networkId: number, accountId: number, token: string): Promise<Outcome<null>> {
  const net = await ownedNetwork(host.db, networkId, accountId);
  if (!net) return networkNotFound();
  if (net.row.joinRule !== "token") return failure(409, "network_invite_only", "this network is invite-only: it has no join token");
  const now = Date.now();
  if (net.joinToken === null) {
    const full = await liveLimitReached(host.db, networkId, now);
    if (full) return full;
  }
  const db = host.db;
  let members: { nodeId: number }[];
  try {
    [, , members] = await db.batch([
      db
        .update(joinLinks)
        .set({ revokedAt: now })
        .where(and(eq(joinLinks.networkId, networkId), eq(joinLinks.isDefault, true), isNull(joinLinks.revokedAt))),
      db.insert(joinLinks).values({ networkId, token, label: DEFAULT_LINK_LABEL, isDefault: true, createdAt: now }),
      db.select({ nodeId: memberships.nodeId }).from(memberships).where(eq(memberships.networkId, networkId)),
      db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "token_rotated", targetNodeId: null, at: now }),
    ]);
  } catch (e) {
    if (violates(e, "join_links.network_id, join_links.token")) return tokenTaken();
    throw e;
  }
  host.notifyAll(members, { type: "join_token_rotated", network_id: networkId });
  return success(null);
}

async function liveLimitReached(db: Database, networkId: number, now: number) {
  const [row] = await db
    .select({ n: count() })
    .from(joinLinks)
    .where(and(eq(joinLinks.networkId, networkId), live(now)));
  if ((row?.n ?? 0) < MAX_LIVE_JOIN_LINKS) return undefined;
  return failure(
    409,
    "join_link_limit",
    `the network has ${MAX_LIVE_JOIN_LINKS} live join links, the most it may hold; revoke one, or let one expire or run out of uses`,
  );
}

const tokenTaken = () => failure(409, "join_link_token_taken", "another join link of this network has this token; choose another, or leave it out for a generated one");
