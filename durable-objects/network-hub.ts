/**
 * One Durable Object per network: it runs every change to the network's membership one at a time
 * (the rules are in worker/networks/membership.ts and lifecycle.ts), holds the members' push
 * channels (hibernatable WebSockets) and the owner's console views, delivers what each change tells
 * nodes in order, and ends invitations at their expiry with an alarm. Its open sockets are what
 * "online" means for a member.
 */
import { DurableObject } from "cloudflare:workers";
import { CHANNEL_CLOSE, type CreateJoinLinkRequest, type Member, type Policy, type PolicyRequest, type PushEvent, type RevocationUpdate } from "@pilot/protocol";
import { howToGetMore } from "../worker/accounts/upgrade.ts";
import { nextTurn } from "../worker/even-timing.ts";
import { database } from "../worker/db/client.ts";
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
import { requestedTagsChanged, setPolicy, tagMember } from "../worker/networks/policy.ts";
import { WrongTokens } from "../worker/networks/wrong-tokens.ts";
import type { JoinLinkRow } from "../worker/db/schema.ts";
import { deliverQuietly, deliverToEach, fanOut } from "../worker/nodes/delivery.ts";
import type { InboxEvent } from "../worker/nodes/inbox.ts";
import { regate } from "../worker/relay/regate.ts";
import { answered } from "../worker/revocations/record.ts";
import { revocationSummary } from "../worker/revocations/summaries.ts";

const nodeTag = (nodeId: number) => `node:${nodeId}`;

/** The key under which the object remembers its network's ID, for the invitation-expiry alarm. */
const NETWORK_KEY = "network";

/** A member's channel, or the owner's console watching the network under a session. */
type Attachment = { nodeId: number; networkId: number } | { owner: true; networkId: number; session: string; expiresAt: number };

export class NetworkHub extends DurableObject<Env> {
  #queue: Promise<unknown> = Promise.resolve();
  /** The last delivery queued for each node: the next one waits for it, so a node hears changes in order. */
  readonly #outbox = new Map<number, Promise<void>>();
  readonly #host: NetworkHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Keep-alives are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    this.#host = {
      db: database(env),
      notify: (nodeId, event) => void this.#notify(nodeId, event),
      notifyAll: (nodes, event) => this.#notifyAll(nodes, event),
      deliver: (deliveries) => ctx.waitUntil(deliverToEach(env, deliveries)),
      regate: (nodeIds) => regate(env, nodeIds),
      broadcast: (event) => this.#broadcast(event),
      isOnline: (nodeId) => this.#isOnline(nodeId),
      revoked: (networkId, revocationId) => {
        const at = Date.now();
        ctx.waitUntil(answered(this.#host.db, revocationId, at).then(() => this.revocationChanged(networkId, revocationId)));
      },
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
      howToGetMore: howToGetMore(env),
    };
  }

  /** Runs changes one after another; reads and pushes need no turn. */
  #serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(change, change);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  // ── Changes, one at a time ──

  add(networkId: number, accountId: number, nodeId: number): Promise<Outcome<{ result: "added" | "already_member" }>> {
    return this.#serial(() => add(this.#host, networkId, accountId, nodeId));
  }

  invite(networkId: number, accountId: number, nodeId: number | null, name: string): Promise<Outcome<{ result: "invited" | "already_member"; expiresAt: number }>> {
    return this.#serial(() => invite(this.#host, networkId, accountId, nodeId, name));
  }

  join(networkId: number, nodeId: number, token: string): Promise<Outcome<{ joinedAt: number }>> {
    return this.#serial(() => join(this.#host, networkId, nodeId, token));
  }

  acceptInvitation(networkId: number, nodeId: number): Promise<Outcome<{ joinedAt: number }>> {
    return this.#serial(() => acceptInvitation(this.#host, networkId, nodeId));
  }

  declineInvitation(networkId: number, nodeId: number): Promise<Outcome<null>> {
    return this.#serial(() => declineInvitation(this.#host, networkId, nodeId));
  }

  withdrawInvitation(networkId: number, accountId: number, nodeId: number | null, name: string): Promise<Outcome<null>> {
    return this.#serial(() => withdrawInvitation(this.#host, networkId, accountId, nodeId, name));
  }

  remove(networkId: number, actor: Actor, nodeId: number, reason: RemovalReason): Promise<Outcome<null>> {
    return this.#serial(() => remove(this.#host, networkId, actor, nodeId, reason));
  }

  deleteNetwork(networkId: number, accountId: number): Promise<Outcome<null>> {
    return this.#serial(() => deleteNetwork(this.#host, networkId, accountId));
  }

  rotateToken(networkId: number, accountId: number, token: string): Promise<Outcome<null>> {
    return this.#serial(() => rotateDefaultLink(this.#host, networkId, accountId, token));
  }

  createLink(networkId: number, accountId: number, request: CreateJoinLinkRequest, token: string): Promise<Outcome<JoinLinkRow>> {
    return this.#serial(() => createLink(this.#host, networkId, accountId, request, token));
  }

  revokeLink(networkId: number, accountId: number, linkId: number): Promise<Outcome<null>> {
    return this.#serial(() => revokeLink(this.#host, networkId, accountId, linkId));
  }

  setPolicy(networkId: number, accountId: number, policy: PolicyRequest): Promise<Outcome<Policy>> {
    return this.#serial(() => setPolicy(this.#host, networkId, accountId, policy));
  }

  tagMember(networkId: number, accountId: number, nodeId: number, tags: string[]): Promise<Outcome<Member>> {
    return this.#serial(() => tagMember(this.#host, networkId, accountId, nodeId, tags));
  }

  /** A member's requested tags changed (already in D1): where they count, the new tags are pushed. */
  requestedTagsChanged(networkId: number, nodeId: number): Promise<void> {
    return this.#serial(() => requestedTagsChanged(this.#host, networkId, nodeId));
  }

  /** The operator suspended a member (already in D1): the others hear it gone, and its channel here closes. */
  memberSuspended(networkId: number, nodeId: number): Promise<void> {
    return this.#serial(async () => {
      if (!(await memberSuspended(this.#host, networkId, nodeId))) return;
      for (const ws of this.ctx.getWebSockets(nodeTag(nodeId))) ws.close(CHANNEL_CLOSE.suspended, "the node is suspended by the registry's operator");
    });
  }

  /** The operator restored a member (already in D1): the others hear it back. */
  memberRestored(networkId: number, nodeId: number): Promise<void> {
    return this.#serial(() => memberRestored(this.#host, networkId, nodeId));
  }

  // ── Push channel ──

  memberUpdated(networkId: number, nodeId: number): Promise<void> {
    return memberUpdated(this.#host, networkId, nodeId);
  }

  /** A member moved to a new identity key, which revoked the token its channel was opened with: the channel closes, and its daemon connects again. */
  async rekeyed(nodeId: number): Promise<void> {
    for (const ws of this.ctx.getWebSockets(nodeTag(nodeId))) ws.close(CHANNEL_CLOSE.rekeyed, "the node moved to a new identity key");
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
      return new Response(null, { status: 101, webSocket: client });
    }
    const nodeId = Number(request.headers.get("x-pilot-node"));
    return this.#serial(async () => {
      const greeting = await greetingForMember(this.#host, networkId, nodeId);
      if (greeting === undefined) return Response.json(networkNotFound(), { status: 404 });
      const wasOnline = this.#isOnline(nodeId);
      // One channel per member: a newer one replaces the old, so no member can make every change
      // in the network slower by holding a thousand sockets open.
      for (const old of this.ctx.getWebSockets(nodeTag(nodeId))) old.close(CHANNEL_CLOSE.replaced, "replaced by a newer channel");
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      this.ctx.acceptWebSocket(server, [nodeTag(nodeId)]);
      server.serializeAttachment({ nodeId, networkId } satisfies Attachment);
      // The policy rides in the greeting, so a channel is never in sync without it.
      server.send(JSON.stringify({ type: "hello", network_id: networkId, node_id: nodeId, ...greeting } satisfies PushEvent));
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

  override async alarm(): Promise<void> {
    const networkId = this.ctx.storage.kv.get<number>(NETWORK_KEY);
    if (networkId === undefined) return;
    await this.#serial(async () => {
      const next = await expireInvitations(this.#host, networkId);
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
  #notifyAll(nodes: readonly { nodeId: number }[], event: InboxEvent): void {
    this.ctx.waitUntil(fanOut(nodes, (n) => this.#notify(n.nodeId, event)));
  }

  #isOnline(nodeId: number, except?: WebSocket): boolean {
    return this.ctx.getWebSockets(nodeTag(nodeId)).some((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  #broadcast(event: PushEvent, except?: WebSocket): void {
    this.#send(event, this.ctx.getWebSockets(), except);
  }

  /** Sends to these sockets, but not to a console view whose session has expired. */
  #send(event: PushEvent | RevocationUpdate, sockets: WebSocket[], except?: WebSocket): void {
    const message = JSON.stringify(event);
    const now = Date.now();
    for (const ws of sockets) {
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
}
