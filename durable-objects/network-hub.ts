/**
 * One Durable Object per network: it runs every change to the network's membership one at a time
 * (the rules are in worker/networks/membership.ts and lifecycle.ts), holds the members' push
 * channels (hibernatable WebSockets) and the owner's console views, delivers what each change tells
 * nodes in order, and ends invitations at their expiry with an alarm. Its open sockets are what
 * "online" means for a member.
 */
import { DurableObject } from "cloudflare:workers";
import { CHANNEL_CLOSE, type AuditUpdate, type CreateJoinLinkRequest, type Member, type Policy, type PolicyRequest, type PresenceUpdate, type PushEvent, type RevocationKind, type RevocationUpdate } from "@pilot/protocol";
import { howToGetMore } from "../worker/accounts/upgrade.ts";
import { nextTurn } from "../worker/even-timing.ts";
import { database } from "../worker/db/client.ts";
import { latestEntries } from "../worker/networks/audit.ts";
import type { NetworkHost } from "../worker/networks/host.ts";
import { createLink, revokeLink, rotateDefaultLink } from "../worker/networks/join-links.ts";
import { deleteNetwork } from "../worker/networks/lifecycle.ts";
import {
  acceptInvitation,
  add,
  declineInvitation,
  expireInvitations,
  invite,
  join,
  memberRestored,
  memberSuspended,
  memberUpdated,
  remove,
  greetingForMember,
  withdrawInvitation,
  type Actor,
  type RemovalReason,
} from "../worker/networks/membership.ts";
import { networkNotFound, type Outcome } from "../worker/networks/outcome.ts";
import { PolicyMemo } from "../worker/networks/policy-state.ts";
import { requestedTagsChanged, setPolicy, tagMember } from "../worker/networks/policy.ts";
import { WrongTokens } from "../worker/networks/wrong-tokens.ts";
import type { JoinLinkRow } from "../worker/db/schema.ts";
import { logger } from "../worker/observability/log.ts";
import { metrics, type Metrics } from "../worker/observability/metrics.ts";
import { REQUEST_ID_HEADER } from "../worker/observability/request-context.ts";
import { deliverQuietly, deliverToEach, fanOut } from "../worker/nodes/delivery.ts";
import type { InboxEvent } from "../worker/nodes/inbox.ts";
import { regate } from "../worker/relay/regate.ts";
import { answered } from "../worker/revocations/record.ts";
import { revocationSummary } from "../worker/revocations/summaries.ts";

const nodeTag = (nodeId: number) => `node:${nodeId}`;

/** Tags every member's channel, so counting them needs no look at each socket's tags. */
const MEMBER_TAG = "member";

/** How many of the trail's newest entries the owner's views hear after each change: more than one change ever writes. */
const AUDIT_PUSHED = 10;

/** The key under which the object remembers its network's ID, for the invitation-expiry alarm. */
const NETWORK_KEY = "network";

/** A revocation a change made, and when it came into force. */
type Revoked = { networkId: number; revocationId: string; kind: RevocationKind; at: number };

/** What a change sent: sockets written to at once, and inbox deliveries it queued (in flight until handed over). */
type Sent = { sockets: number; deliveries: Promise<unknown>[]; nodes: number };

/** A member's channel, or the owner's console watching the network under a session. */
type Attachment = { nodeId: number; networkId: number } | { owner: true; networkId: number; session: string; expiresAt: number };

export class NetworkHub extends DurableObject<Env> {
  #queue: Promise<unknown> = Promise.resolve();
  /** The last delivery queued for each node: the next one waits for it, so a node hears changes in order. */
  readonly #outbox = new Map<number, Promise<void>>();
  /** The host every change gets, less what each change has of its own (its log, its revocations). */
  readonly #host: Omit<NetworkHost, "log" | "revoked">;
  readonly #metrics: Metrics;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#metrics = metrics(env);
    // Keep-alives are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.#host = {
      db: database(env),
      notify: (nodeId, event) => void this.#notify(nodeId, event),
      notifyAll: (nodes, event) => void this.#notifyAll(nodes, event),
      deliver: (deliveries) => ctx.waitUntil(deliverToEach(env, deliveries)),
      regate: (nodeIds) => regate(env, nodeIds),
      broadcast: (event) => void this.#broadcast(event),
      isOnline: (nodeId) => this.#isOnline(nodeId),
      metrics: this.#metrics,
      closeChannels: (nodeId) => {
        for (const ws of ctx.getWebSockets(nodeTag(nodeId))) ws.close(CHANNEL_CLOSE.removed, "removed from the network");
      },
      closeAllChannels: () => {
        for (const ws of ctx.getWebSockets()) ws.close(CHANNEL_CLOSE.deleted, "the network was deleted");
      },
      expireInvitationsAt: async (networkId, at) => {
        ctx.storage.kv.put(NETWORK_KEY, networkId);
        const armed = await ctx.storage.getAlarm();
        if (armed === null || armed > at) await ctx.storage.setAlarm(at);
      },
      cancelInvitationExpiry: () => ctx.storage.deleteAlarm(),
      wrongTokens: new WrongTokens(),
      policyMemo: new PolicyMemo(),
      howToGetMore: howToGetMore(env),
    };
  }

  /**
   * Runs changes one after another; reads and pushes need no turn; the owner's live views then
   * hear the trail's newest entries. Each change logs under the
   * request that asked for it (null: the object's own alarm), and has the revocations it makes
   * timed until their news has gone out.
   */
  #serial<T>(requestId: string | null, change: (host: NetworkHost) => Promise<T>): Promise<T> {
    const run = () => this.#change(requestId, change);
    const done = this.#queue.then(run, run);
    this.#queue = done.catch(() => undefined);
    this.ctx.waitUntil(this.#queue.then(() => this.#auditToOwners()));
    return done;
  }

  async #change<T>(requestId: string | null, change: (host: NetworkHost) => Promise<T>): Promise<T> {
    const log = logger(requestId);
    const made: Revoked[] = [];
    const sent: Sent = { sockets: 0, deliveries: [], nodes: 0 };
    const host: NetworkHost = {
      ...this.#host,
      log,
      notify: (nodeId, event) => {
        sent.deliveries.push(this.#notify(nodeId, event));
        sent.nodes += 1;
      },
      notifyAll: (nodes, event) => {
        sent.deliveries.push(this.#notifyAll(nodes, event));
        sent.nodes += nodes.length;
      },
      broadcast: (event) => {
        sent.sockets += this.#broadcast(event);
      },
      revoked: (networkId, revocationId, kind) => {
        const at = Date.now();
        made.push({ networkId, revocationId, kind, at });
        log.info("revocation", { network_id: networkId, revocation_id: revocationId, kind });
        this.ctx.waitUntil(answered(this.#host.db, revocationId, at).then(() => this.revocationChanged(networkId, revocationId)));
      },
    };
    const result = await change(host);
    if (made.length > 0) this.ctx.waitUntil(this.#timeFanOut(made, sent));
    return result;
  }

  /**
   * A change's revocations have gone out once every channel was sent its news (done when the change
   * returned: sends are synchronous) and every inbox delivery it queued has been handed to the
   * node's object: the time from the revocation's answer to then is its fan-out time. It goes to
   * the metrics alone, for percentiles; the change's own lines were logged under its request.
   */
  async #timeFanOut(made: readonly Revoked[], sent: Sent): Promise<void> {
    await Promise.all(sent.deliveries);
    const now = Date.now();
    for (const r of made) this.#metrics.write("revocation_fanout", [r.kind], [now - r.at, sent.sockets + sent.nodes]);
  }

  /**
   * Sends the owner's console views the trail's newest entries, which each page merges by ID: a
   * change that wrote none (or failed) sends what the page has already. One read, only while a
   * view is open.
   */
  async #auditToOwners(): Promise<void> {
    const owners = this.ctx.getWebSockets("owner");
    if (owners.length === 0) return;
    const { networkId } = owners[0]!.deserializeAttachment() as Attachment;
    try {
      const entries = await latestEntries(this.#host.db, networkId, AUDIT_PUSHED);
      this.#send({ type: "audit", network_id: networkId, entries } satisfies AuditUpdate, owners);
    } catch {
      // The page catches up when it next resynchronises (on reconnecting).
    }
  }

  // ── Changes, one at a time ──

  add(networkId: number, accountId: number, nodeId: number, requestId: string | null = null): Promise<Outcome<{ result: "added" | "already_member" }>> {
    return this.#serial(requestId, (host) => add(host, networkId, accountId, nodeId));
  }

  invite(networkId: number, accountId: number, nodeId: number | null, name: string, requestId: string | null = null): Promise<Outcome<{ result: "invited" | "already_member"; expiresAt: number }>> {
    return this.#serial(requestId, (host) => invite(host, networkId, accountId, nodeId, name));
  }

  join(networkId: number, nodeId: number, token: string, requestId: string | null = null): Promise<Outcome<{ joinedAt: number }>> {
    return this.#serial(requestId, (host) => join(host, networkId, nodeId, token));
  }

  acceptInvitation(networkId: number, nodeId: number, requestId: string | null = null): Promise<Outcome<{ joinedAt: number }>> {
    return this.#serial(requestId, (host) => acceptInvitation(host, networkId, nodeId));
  }

  declineInvitation(networkId: number, nodeId: number, requestId: string | null = null): Promise<Outcome<null>> {
    return this.#serial(requestId, (host) => declineInvitation(host, networkId, nodeId));
  }

  withdrawInvitation(networkId: number, accountId: number, nodeId: number | null, name: string, requestId: string | null = null): Promise<Outcome<null>> {
    return this.#serial(requestId, (host) => withdrawInvitation(host, networkId, accountId, nodeId, name));
  }

  remove(networkId: number, actor: Actor, nodeId: number, reason: RemovalReason, requestId: string | null = null): Promise<Outcome<null>> {
    return this.#serial(requestId, (host) => remove(host, networkId, actor, nodeId, reason));
  }

  deleteNetwork(networkId: number, accountId: number, requestId: string | null = null): Promise<Outcome<null>> {
    return this.#serial(requestId, (host) => deleteNetwork(host, networkId, accountId));
  }

  rotateToken(networkId: number, accountId: number, token: string, requestId: string | null = null): Promise<Outcome<null>> {
    return this.#serial(requestId, (host) => rotateDefaultLink(host, networkId, accountId, token));
  }

  createLink(networkId: number, accountId: number, request: CreateJoinLinkRequest, token: string, requestId: string | null = null): Promise<Outcome<JoinLinkRow>> {
    return this.#serial(requestId, (host) => createLink(host, networkId, accountId, request, token));
  }

  revokeLink(networkId: number, accountId: number, linkId: number, requestId: string | null = null): Promise<Outcome<null>> {
    return this.#serial(requestId, (host) => revokeLink(host, networkId, accountId, linkId));
  }

  setPolicy(networkId: number, accountId: number, policy: PolicyRequest, requestId: string | null = null): Promise<Outcome<Policy>> {
    return this.#serial(requestId, (host) => setPolicy(host, networkId, accountId, policy));
  }

  tagMember(networkId: number, accountId: number, nodeId: number, tags: string[], requestId: string | null = null): Promise<Outcome<Member>> {
    return this.#serial(requestId, (host) => tagMember(host, networkId, accountId, nodeId, tags));
  }

  /** A member's requested tags changed (already in D1): where they count, the new tags are pushed. */
  requestedTagsChanged(networkId: number, nodeId: number, requestId: string | null = null): Promise<void> {
    return this.#serial(requestId, (host) => requestedTagsChanged(host, networkId, nodeId));
  }

  /** The operator suspended a member (already in D1): the others hear it gone, and its channel here closes. */
  memberSuspended(networkId: number, nodeId: number, requestId: string | null = null): Promise<void> {
    return this.#serial(requestId, async (host) => {
      if (!(await memberSuspended(host, networkId, nodeId))) return;
      for (const ws of this.ctx.getWebSockets(nodeTag(nodeId))) ws.close(CHANNEL_CLOSE.suspended, "the node is suspended by the registry's operator");
    });
  }

  /** The operator restored a member (already in D1): the others hear it back. */
  memberRestored(networkId: number, nodeId: number, requestId: string | null = null): Promise<void> {
    return this.#serial(requestId, (host) => memberRestored(host, networkId, nodeId));
  }

  // ── Push channel ──

  memberUpdated(networkId: number, nodeId: number): Promise<void> {
    return memberUpdated(this.#host, networkId, nodeId);
  }

  /**
   * A member moved to a new identity key, which revoked the token its channel was opened with: the
   * channel closes, and its daemon connects again. The owner's views see the rotation's entry.
   */
  async rekeyed(nodeId: number): Promise<void> {
    for (const ws of this.ctx.getWebSockets(nodeTag(nodeId))) ws.close(CHANNEL_CLOSE.rekeyed, "the node moved to a new identity key");
    this.ctx.waitUntil(this.#auditToOwners());
  }

  /** One of the network's revocations was made or got a receipt: the owner's views see where it stands. */
  async revocationChanged(networkId: number, revocationId: string): Promise<void> {
    const owners = this.ctx.getWebSockets("owner");
    const summary = owners.length > 0 && (await revocationSummary(this.#host.db, revocationId));
    if (!summary) return;
    this.#send({ type: "revocation", network_id: networkId, revocation: summary } satisfies RevocationUpdate, owners);
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
      this.#counted("console", "open");
      return new Response(null, { status: 101, webSocket: client });
    }
    const nodeId = Number(request.headers.get("x-pilot-node"));
    return this.#serial(request.headers.get(REQUEST_ID_HEADER), async (host) => {
      const greeting = await greetingForMember(host, networkId, nodeId);
      if (greeting === undefined) return Response.json(networkNotFound(), { status: 404 });
      const wasOnline = this.#isOnline(nodeId);
      // One channel per member: a newer one replaces the old, so no member can make every change
      // in the network slower by holding a thousand sockets open.
      for (const old of this.ctx.getWebSockets(nodeTag(nodeId))) old.close(CHANNEL_CLOSE.replaced, "replaced by a newer channel");
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      this.ctx.acceptWebSocket(server, [nodeTag(nodeId), MEMBER_TAG]);
      server.serializeAttachment({ nodeId, networkId } satisfies Attachment);
      // The policy rides in the greeting, so a channel is never in sync without it.
      server.send(JSON.stringify({ type: "hello", network_id: networkId, node_id: nodeId, ...greeting } satisfies PushEvent));
      if (!wasOnline) this.#presence(networkId, nodeId, true);
      this.#counted("network", "open");
      return new Response(null, { status: 101, webSocket: client });
    });
  }

  override async webSocketMessage(): Promise<void> {
    // The channel speaks only from the registry to the node; keep-alives are auto-answered.
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    const attachment = ws.deserializeAttachment() as Attachment;
    this.#counted("owner" in attachment ? "console" : "network", "close", ws);
    if ("owner" in attachment) return;
    const { nodeId, networkId } = attachment;
    if (!this.#isOnline(nodeId, ws)) this.#presence(networkId, nodeId, false);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws);
  }

  // ── Invitation expiry ──

  override async alarm(): Promise<void> {
    const networkId = this.ctx.storage.kv.get<number>(NETWORK_KEY);
    if (networkId === undefined) return;
    await this.#serial(null, async (host) => {
      const next = await expireInvitations(host, networkId);
      if (next !== null) await this.ctx.storage.setAlarm(next);
    });
  }

  // ── Fan-out ──

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
  #notifyAll(nodes: readonly { nodeId: number }[], event: InboxEvent): Promise<void> {
    const all = fanOut(nodes, (n) => this.#notify(n.nodeId, event));
    this.ctx.waitUntil(all);
    return all;
  }

  /** A channel or console view opened or closed: the metrics hear how many of its kind the object holds now. */
  #counted(kind: "network" | "console", change: "open" | "close", closing?: WebSocket): void {
    const open = this.ctx.getWebSockets(kind === "console" ? "owner" : MEMBER_TAG).filter((ws) => ws !== closing);
    this.#metrics.write("channel", [kind, change], [open.length]);
  }

  /** A member came online or went offline: only the owner's views hear it (PresenceUpdate says why). */
  #presence(networkId: number, nodeId: number, online: boolean): void {
    this.#send({ type: "presence", network_id: networkId, node_id: nodeId, online } satisfies PresenceUpdate, this.ctx.getWebSockets("owner"));
  }

  #isOnline(nodeId: number, except?: WebSocket): boolean {
    return this.ctx.getWebSockets(nodeTag(nodeId)).some((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  /** Returns how many sockets it was sent to. */
  #broadcast(event: PushEvent): number {
    return this.#send(event, this.ctx.getWebSockets());
  }

  /** Sends to these sockets, but not to a console view whose session has expired. */
  #send(event: PushEvent | PresenceUpdate | RevocationUpdate | AuditUpdate, sockets: WebSocket[]): number {
    const message = JSON.stringify(event);
    const now = Date.now();
    let sent = 0;
    for (const ws of sockets) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const a = ws.deserializeAttachment() as Attachment;
      if ("owner" in a && a.expiresAt <= now) {
        // The session behind this console view expired: it sees nothing more.
        ws.close(CHANNEL_CLOSE.signedOut, "session expired");
        continue;
      }
      try {
        ws.send(message);
        sent += 1;
      } catch {
        // A socket that died mid-send is cleaned up by its close handler.
      }
    }
    return sent;
  }
}
