/**
 * One Durable Object per network. Every change to the network's membership — add, join, accept,
 * remove, leave, delete, token rotation — runs here, one at a time, and is committed to D1 in a
 * single batch before the caller hears back. The object also holds the members' push channels
 * (hibernatable WebSockets): it tells them of changes, closes a removed member's sockets, and
 * its open sockets are what "online" means for a member.
 *
 * Each change is also told to the node it concerns through that node's own channel (its NodeHub
 * inbox), which reaches a running daemon that holds no channel of this network yet (an owner's add,
 * an invitation) and waits for one that is offline. Those deliveries go out after the commit, in
 * the background, so the answer's timing does not depend on whether a named node exists.
 */
import { DurableObject } from "cloudflare:workers";
import { and, eq, lte, min, or, sql } from "drizzle-orm";
import { CHANNEL_CLOSE, type PushEvent } from "@pilot/protocol";
import { sameSecret } from "../worker/auth/secrets.ts";
import { database, type Database } from "../worker/db/client.ts";
import { accounts, auditLog, invitations, memberships, networks, nodes, plans, trustPairs, type NetworkRow } from "../worker/db/schema.ts";
import { nextTurn } from "../worker/even-timing.ts";
import { deliverQuietly, deliverToEach, FANOUT } from "../worker/nodes/delivery.ts";
import type { InboxEvent } from "../worker/nodes/inbox.ts";
import { trustEnded } from "../worker/trust/pairs.ts";
import { failure, networkNotFound, success, type Outcome } from "../worker/networks/outcome.ts";
import { memberView } from "../worker/networks/views.ts";

export interface Actor {
  type: "account" | "node";
  id: number;
}

export type RemovalReason = "removed" | "left" | "deregistered";

export const INVITATION_TTL_MS = 7 * 86_400_000;

/** Wrong join tokens a network takes per minute before it refuses token joins for the rest of it. */
export const WRONG_TOKENS_PER_MINUTE = 20;

const nodeTag = (nodeId: number) => `node:${nodeId}`;

/** The key under which the object remembers its network's ID, for the invitation-expiry alarm. */
const NETWORK_KEY = "network";

/** A member's channel, or the owner's console watching the network under a session. */
type Attachment = { nodeId: number; networkId: number } | { owner: true; networkId: number; session: string; expiresAt: number };

export class NetworkHub extends DurableObject<Env> {
  #queue: Promise<unknown> = Promise.resolve();
  #wrongTokens = { minute: 0, count: 0 };
  /** The last delivery queued for each node: the next one waits for it, so a node hears changes in order. */
  readonly #outbox = new Map<number, Promise<void>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Keep-alives are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  get #db(): Database {
    return database(this.env);
  }

  /** Runs changes one after another; reads and pushes need no turn. */
  #serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(change, change);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  // ── Membership changes ──

  /** The owner adds a node its account owns. */
  add(networkId: number, accountId: number, nodeId: number): Promise<Outcome<{ result: "added" | "already_member" }>> {
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || net.row.accountId !== accountId) return networkNotFound();
      if (await this.#isMember(networkId, nodeId)) return success({ result: "already_member" as const });
      const added = await this.#admit(net, nodeId, { type: "account", id: accountId }, "member_added");
      return added.ok ? success({ result: "added" as const }) : added;
    });
  }

  /**
   * The owner invites a name that is not a node it owns; a node with that name must accept. The
   * same statements run, and the same audit entry (the name as typed) is written, whether or not a
   * node has the name (`nodeId` null), and the node is told on a later turn than the answer, so
   * neither the answer, its timing nor the log tells the owner that a private node exists. An
   * invitation still open is renewed without telling the node again.
   */
  invite(
    networkId: number,
    accountId: number,
    nodeId: number | null,
    name: string,
  ): Promise<Outcome<{ result: "invited" | "already_member"; expiresAt: number }>> {
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || net.row.accountId !== accountId) return networkNotFound();
      const now = Date.now();
      const expiresAt = now + INVITATION_TTL_MS;
      // Node 0 is nobody: the queries below run for a missing name too, and find nothing.
      const node = nodeId ?? 0;
      if (await this.#isMember(networkId, node)) return success({ result: "already_member" as const, expiresAt });
      const DB = this.env.DB;
      const [open, invited] = await DB.batch<{ node_id: number }>([
        DB.prepare("SELECT node_id FROM invitations WHERE network_id = ?1 AND node_id = ?2 AND expires_at > ?3").bind(networkId, node, now),
        DB.prepare(
          `INSERT INTO invitations (network_id, node_id, created_at, expires_at, invited_as)
           SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM nodes WHERE id = ?2 AND deregistered_at IS NULL)
           ON CONFLICT (network_id, node_id) DO UPDATE SET created_at = excluded.created_at, expires_at = excluded.expires_at, invited_as = excluded.invited_as
           RETURNING node_id`,
        ).bind(networkId, node, now, expiresAt, name),
        DB.prepare("INSERT INTO audit_log (network_id, actor_type, actor_id, action, target_name, at) VALUES (?1, 'account', ?2, 'node_invited', ?3, ?4)").bind(
          networkId,
          accountId,
          name,
          now,
        ),
      ]);
      if (invited?.results.length && !open?.results.length) {
        this.#notify(node, { type: "invitation_received", network_id: networkId, name: net.row.name, expires_at: new Date(expiresAt).toISOString() });
      }
      await this.#armExpiry(networkId, expiresAt);
      return success({ result: "invited" as const, expiresAt });
    });
  }

  /** A node presents the join token. Wrong tokens and missing networks get the same answer. */
  join(networkId: number, nodeId: number, token: string): Promise<Outcome<{ joinedAt: number }>> {
    return this.#serial(async () => {
      const minute = Math.floor(Date.now() / 60_000);
      if (this.#wrongTokens.minute !== minute) this.#wrongTokens = { minute, count: 0 };
      if (this.#wrongTokens.count >= WRONG_TOKENS_PER_MINUTE) {
        return failure(429, "rate_limited", "too many wrong join tokens for this network; wait a minute and retry");
      }
      const net = await this.#network(networkId);
      // Compare even when there is no such network, so both cases take the same time.
      const matches = await sameSecret(token, net?.row.joinToken ?? "");
      if (!net || net.row.joinRule !== "token" || net.row.joinToken === null || !matches) {
        this.#wrongTokens.count++;
        return failure(403, "join_denied", "no network with this ID takes this join token; check both with the network's owner");
      }
      const existing = await this.#membership(networkId, nodeId);
      if (existing) return success({ joinedAt: existing.joinedAt });
      return this.#admit(net, nodeId, { type: "node", id: nodeId }, "member_joined");
    });
  }

  acceptInvitation(networkId: number, nodeId: number): Promise<Outcome<{ joinedAt: number }>> {
    return this.#serial(async () => {
      const invitation = await this.#pendingInvitation(networkId, nodeId);
      const net = invitation && (await this.#network(networkId));
      if (!net) return failure(404, "invitation_not_found", "no open invitation to this network; ask its owner to add you again");
      return this.#admit(net, nodeId, { type: "node", id: nodeId }, "invitation_accepted");
    });
  }

  /**
   * The invited node says no. Nothing reaches the owner's log: any entry would tell the owner that
   * the name it typed belongs to a node, which an invitation to a name nobody has never does. To
   * the owner, a declined invitation looks like one never answered.
   */
  declineInvitation(networkId: number, nodeId: number): Promise<Outcome<null>> {
    return this.#serial(async () => {
      if (!(await this.#pendingInvitation(networkId, nodeId))) return failure(404, "invitation_not_found", "no open invitation to this network");
      await this.#db.delete(invitations).where(and(eq(invitations.networkId, networkId), eq(invitations.nodeId, nodeId)));
      return success(null);
    });
  }

  /**
   * The owner takes back an invitation, naming the node as it is called now or as it was invited.
   * The same work is done, the same audit entry written and the same answer given whether or not a
   * node has the name or was invited.
   */
  withdrawInvitation(networkId: number, accountId: number, nodeId: number | null, name: string): Promise<Outcome<null>> {
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || net.row.accountId !== accountId) return networkNotFound();
      const db = this.#db;
      const [withdrawn] = await db.batch([
        // By the node the name finds now, or by the name as it was typed (the node may have renamed since).
        db
          .delete(invitations)
          .where(and(eq(invitations.networkId, networkId), or(eq(invitations.nodeId, nodeId ?? 0), eq(invitations.invitedAs, name))))
          .returning({ nodeId: invitations.nodeId }),
        db.insert(auditLog).values({ networkId, actorType: "account", actorId: accountId, action: "invitation_withdrawn", targetName: name, at: Date.now() }),
      ]);
      for (const w of withdrawn) this.#notify(w.nodeId, { type: "invitation_ended", network_id: networkId, reason: "withdrawn" });
      return success(null);
    });
  }

  /**
   * Ends a membership: committed to D1 first, so the next resolve is already denied, then the
   * other members are told and the node's sockets to this network are closed.
   */
  remove(networkId: number, actor: Actor, nodeId: number, reason: RemovalReason): Promise<Outcome<null>> {
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || (actor.type === "account" && net.row.accountId !== actor.id)) return networkNotFound();
      if (!(await this.#isMember(networkId, nodeId))) {
        return actor.type === "node" ? networkNotFound() : failure(404, "not_member", `node ${nodeId} is not a member of this network`);
      }
      const db = this.#db;
      const action = reason === "removed" ? "member_removed" : reason === "left" ? "member_left" : "member_deregistered";
      const [, , , vouched] = await db.batch([
        db.delete(memberships).where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId))),
        db
          .update(networks)
          .set({ memberCount: sql`${networks.memberCount} - 1`, revision: sql`${networks.revision} + 1` })
          .where(eq(networks.id, networkId)),
        db.insert(auditLog).values({ networkId, actorType: actor.type, actorId: actor.id, action, targetNodeId: nodeId, at: Date.now() }),
        // Trust this network vouched for ends with the membership that earned it.
        db
          .delete(trustPairs)
          .where(and(eq(trustPairs.networkId, networkId), or(eq(trustPairs.nodeA, nodeId), eq(trustPairs.nodeB, nodeId))))
          .returning(),
      ]);
      this.ctx.waitUntil(deliverToEach(this.env, trustEnded(vouched)));
      // A deregistered node has no daemon to tell; its inbox is being emptied.
      if (reason !== "deregistered") this.#notify(nodeId, { type: "network_removed", network_id: networkId, reason });
      // Everyone hears it, the removed node included (its copy tells it the channel is over), then its sockets close.
      this.#broadcast({ type: "member_removed", network_id: networkId, revision: net.row.revision + 1, node_id: nodeId, reason });
      for (const ws of this.ctx.getWebSockets(nodeTag(nodeId))) ws.close(CHANNEL_CLOSE.removed, "removed from the network");
      return success(null);
    });
  }

  /** Deletes the network and every association with it; nodes keep their registration and trust. */
  deleteNetwork(networkId: number, accountId: number): Promise<Outcome<null>> {
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || net.row.accountId !== accountId) return networkNotFound();
      const db = this.#db;
      const [members, invited, , , vouched] = await db.batch([
        db.delete(memberships).where(eq(memberships.networkId, networkId)).returning({ nodeId: memberships.nodeId }),
        db.delete(invitations).where(eq(invitations.networkId, networkId)).returning({ nodeId: invitations.nodeId }),
        db.delete(auditLog).where(eq(auditLog.networkId, networkId)),
        db.delete(networks).where(eq(networks.id, networkId)),
        db.delete(trustPairs).where(eq(trustPairs.networkId, networkId)).returning(),
      ]);
      this.ctx.waitUntil(deliverToEach(this.env, trustEnded(vouched)));
      this.#notifyAll(members, { type: "network_removed", network_id: networkId, reason: "deleted" });
      this.#notifyAll(invited, { type: "invitation_ended", network_id: networkId, reason: "deleted" });
      await this.ctx.storage.deleteAlarm();
      this.#broadcast({ type: "network_deleted", network_id: networkId });
      for (const ws of this.ctx.getWebSockets()) ws.close(CHANNEL_CLOSE.deleted, "the network was deleted");
      return success(null);
    });
  }

  rotateToken(networkId: number, accountId: number, token: string): Promise<Outcome<NetworkRow>> {
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || net.row.accountId !== accountId) return networkNotFound();
      if (net.row.joinRule !== "token") return failure(400, "invalid_request", "this network is invite-only: it has no join token");
      const db = this.#db;
      const [[row], members] = await db.batch([
        db.update(networks).set({ joinToken: token }).where(eq(networks.id, networkId)).returning(),
        db.select({ nodeId: memberships.nodeId }).from(memberships).where(eq(memberships.networkId, networkId)),
        db.insert(auditLog).values({ networkId, actorType: "account", actorId: accountId, action: "token_rotated", targetNodeId: null, at: Date.now() }),
      ]);
      if (!row) return networkNotFound();
      this.#notifyAll(members, { type: "join_token_rotated", network_id: networkId });
      return success(row);
    });
  }

  // ── Push channel ──

  /** A member's endpoints changed: tell the others. */
  async memberUpdated(networkId: number, nodeId: number): Promise<void> {
    const member = await this.#memberRow(networkId, nodeId);
    if (member) this.#broadcast({ type: "member_updated", network_id: networkId, member });
  }

  /** A console session ended: its live views close. */
  async endWatch(session: string): Promise<void> {
    for (const ws of this.ctx.getWebSockets(`session:${session}`)) ws.close(CHANNEL_CLOSE.signedOut, "signed out");
  }

  /** Which of these nodes hold this network's push channel now. */
  async online(nodeIds: number[]): Promise<number[]> {
    return nodeIds.filter((id) => this.#isOnline(id));
  }

  /**
   * Upgrades to a push channel for the member the Worker authenticated (x-pilot-node), or to a
   * read-only view for the owner's console session (x-pilot-owner-session, checked by the Worker).
   */
  override async fetch(request: Request): Promise<Response> {
    const networkId = Number(request.headers.get("x-pilot-network"));
    const session = request.headers.get("x-pilot-owner-session");
    if (session) {
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      this.ctx.acceptWebSocket(server, ["owner", `session:${session}`]);
      const expiresAt = Number(request.headers.get("x-pilot-owner-expires"));
      server.serializeAttachment({ owner: true, networkId, session, expiresAt } satisfies Attachment);
      server.send(JSON.stringify({ type: "watching", network_id: networkId }));
      return new Response(null, { status: 101, webSocket: client });
    }
    const nodeId = Number(request.headers.get("x-pilot-node"));
    return this.#serial(async () => {
      const net = await this.#network(networkId);
      if (!net || !(await this.#isMember(networkId, nodeId))) {
        return Response.json(networkNotFound(), { status: 404 });
      }
      const wasOnline = this.#isOnline(nodeId);
      // One channel per member: a newer one replaces the old, so no member can make every change
      // in the network slower by holding a thousand sockets open.
      for (const old of this.ctx.getWebSockets(nodeTag(nodeId))) old.close(CHANNEL_CLOSE.replaced, "replaced by a newer channel");
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      this.ctx.acceptWebSocket(server, [nodeTag(nodeId)]);
      server.serializeAttachment({ nodeId, networkId } satisfies Attachment);
      server.send(JSON.stringify({ type: "hello", network_id: networkId, node_id: nodeId, revision: net.row.revision } satisfies PushEvent));
      if (!wasOnline) this.#broadcast({ type: "presence", network_id: networkId, node_id: nodeId, online: true }, server);
      return new Response(null, { status: 101, webSocket: client });
    });
  }

  override async webSocketMessage(): Promise<void> {
    // The channel speaks only from the registry to the node; keep-alives are auto-answered.
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    const attachment = ws.deserializeAttachment() as Attachment;
    if ("owner" in attachment) return;
    const { nodeId, networkId } = attachment;
    if (!this.#isOnline(nodeId, ws)) this.#broadcast({ type: "presence", network_id: networkId, node_id: nodeId, online: false });
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws);
  }

  // ── Invitation expiry ──

  /** Invitations end at their expiry: the alarm deletes them and tells each invited node. */
  override async alarm(): Promise<void> {
    const networkId = this.ctx.storage.kv.get<number>(NETWORK_KEY);
    if (networkId === undefined) return;
    await this.#serial(async () => {
      const db = this.#db;
      const [expired, [next]] = await db.batch([
        db
          .delete(invitations)
          .where(and(eq(invitations.networkId, networkId), lte(invitations.expiresAt, Date.now())))
          .returning({ nodeId: invitations.nodeId }),
        db.select({ at: min(invitations.expiresAt) }).from(invitations).where(eq(invitations.networkId, networkId)),
      ]);
      this.#notifyAll(expired, { type: "invitation_ended", network_id: networkId, reason: "expired" });
      if (next?.at != null) await this.ctx.storage.setAlarm(next.at);
    });
  }

  async #armExpiry(networkId: number, at: number): Promise<void> {
    this.ctx.storage.kv.put(NETWORK_KEY, networkId);
    const armed = await this.ctx.storage.getAlarm();
    if (armed === null || armed > at) await this.ctx.storage.setAlarm(at);
  }

  // ── Helpers ──

  /**
   * Queues an event in the node's own inbox, after any earlier one for it from this network. It
   * starts on a later turn, once the caller's answer has gone, so the answer's timing does not
   * depend on whether there was a node to tell.
   */
  #notify(nodeId: number, event: InboxEvent): Promise<void> {
    const madeAt = Date.now();
    const next = (this.#outbox.get(nodeId) ?? Promise.resolve())
      .then(nextTurn)
      .then(() => deliverQuietly(this.env, nodeId, event, madeAt));
    this.#outbox.set(nodeId, next);
    this.ctx.waitUntil(
      next.then(() => {
        if (this.#outbox.get(nodeId) === next) this.#outbox.delete(nodeId);
      }),
    );
    return next;
  }

  /** Tells every one of these nodes, a bounded number at a time (a network may have thousands). */
  #notifyAll(nodes: { nodeId: number }[], event: InboxEvent): void {
    this.ctx.waitUntil(
      (async () => {
        for (let i = 0; i < nodes.length; i += FANOUT) await Promise.all(nodes.slice(i, i + FANOUT).map((n) => this.#notify(n.nodeId, event)));
      })(),
    );
  }

  #isOnline(nodeId: number, except?: WebSocket): boolean {
    return this.ctx.getWebSockets(nodeTag(nodeId)).some((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  #broadcast(event: PushEvent, except?: WebSocket): void {
    const message = JSON.stringify(event);
    const now = Date.now();
    for (const ws of this.ctx.getWebSockets()) {
      if (ws === except || ws.readyState !== WebSocket.OPEN) continue;
      const a = ws.deserializeAttachment() as Attachment;
      if ("owner" in a && a.expiresAt <= now) {
        // The session behind this console view expired: it sees nothing more.
        ws.close(CHANNEL_CLOSE.signedOut, "session expired");
        continue;
      }
      try {
        ws.send(message);
      } catch {
        // A socket that died mid-send is cleaned up by its close handler.
      }
    }
  }

  async #network(networkId: number) {
    const row = await this.#db
      .select({ row: networks, maxMembers: plans.maxMembers })
      .from(networks)
      .innerJoin(accounts, eq(accounts.id, networks.accountId))
      .innerJoin(plans, eq(plans.id, accounts.plan))
      .where(eq(networks.id, networkId))
      .get();
    return row;
  }

  #membership(networkId: number, nodeId: number) {
    return this.#db
      .select({ joinedAt: memberships.joinedAt })
      .from(memberships)
      .where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId)))
      .get();
  }

  async #isMember(networkId: number, nodeId: number): Promise<boolean> {
    return (await this.#membership(networkId, nodeId)) !== undefined;
  }

  #pendingInvitation(networkId: number, nodeId: number) {
    return this.#db
      .select({ expiresAt: invitations.expiresAt })
      .from(invitations)
      .where(and(eq(invitations.networkId, networkId), eq(invitations.nodeId, nodeId), sql`${invitations.expiresAt} > ${Date.now()}`))
      .get();
  }

  async #memberRow(networkId: number, nodeId: number) {
    const row = await this.#db
      .select({ node: nodes, joinedAt: memberships.joinedAt })
      .from(memberships)
      .innerJoin(nodes, eq(nodes.id, memberships.nodeId))
      .where(and(eq(memberships.networkId, networkId), eq(memberships.nodeId, nodeId)))
      .get();
    return row && memberView(networkId, row.node, row.joinedAt, this.#isOnline(nodeId));
  }

  /** Makes a registered node a member if the plan has room, in one batch with its audit entry. */
  async #admit(
    net: { row: NetworkRow; maxMembers: number },
    nodeId: number,
    actor: Actor,
    action: "member_added" | "member_joined" | "invitation_accepted",
  ): Promise<Outcome<{ joinedAt: number }>> {
    const networkId = net.row.id;
    const node = await this.#db.query.nodes.findFirst({ where: eq(nodes.id, nodeId) });
    if (!node || node.deregisteredAt !== null) return failure(404, "not_found", "no such node");
    if (net.row.memberCount >= net.maxMembers) {
      return failure(
        403,
        "plan_limit",
        `the network is full: ${net.row.memberCount} of ${net.maxMembers} agents on its owner's plan; remove a member or upgrade the plan`,
      );
    }
    const joinedAt = Date.now();
    // Every statement is conditioned on the node still being registered, in one transaction, so a
    // join racing the node's deregistration either lands before it (and is then undone by it) or
    // not at all. Plain D1 statements: drizzle cannot batch INSERT … SELECT with RETURNING.
    const ACTIVE = "EXISTS (SELECT 1 FROM nodes WHERE id = ?2 AND deregistered_at IS NULL)";
    const DB = this.env.DB;
    const [inserted] = await DB.batch<{ node_id: number }>([
      DB.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) SELECT ?1, ?2, ?3 WHERE ${ACTIVE} RETURNING node_id`).bind(
        networkId,
        nodeId,
        joinedAt,
      ),
      DB.prepare(`UPDATE networks SET member_count = member_count + 1, revision = revision + 1 WHERE id = ?1 AND ${ACTIVE}`).bind(networkId, nodeId),
      DB.prepare("DELETE FROM invitations WHERE network_id = ?1 AND node_id = ?2").bind(networkId, nodeId),
      DB.prepare(
        `INSERT INTO audit_log (network_id, actor_type, actor_id, action, target_node_id, at) SELECT ?1, ?3, ?4, ?5, ?2, ?6 WHERE ${ACTIVE}`,
      ).bind(networkId, nodeId, actor.type, actor.id, action, joinedAt),
    ]);
    const added = inserted?.results ?? [];
    if (added.length === 0) return failure(404, "not_found", "no such node");
    const how = action === "member_added" ? "added" : action === "member_joined" ? "joined" : "invitation_accepted";
    this.#notify(nodeId, { type: "network_added", network_id: networkId, name: net.row.name, how });
    this.#broadcast({
      type: "member_added",
      network_id: networkId,
      revision: net.row.revision + 1,
      member: memberView(networkId, node, joinedAt, this.#isOnline(nodeId)),
    });
    return success({ joinedAt });
  }
}

export const networkHub = (env: Env, networkId: number) => env.NETWORK_HUB.getByName(String(networkId));

