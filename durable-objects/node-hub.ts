/**
 * One Durable Object per node: the registry's live side of that node. It keeps the node's presence
 * (worker/nodes/presence.ts) and its inbox (worker/nodes/inbox.ts: handshake requests, decisions,
 * revocations, membership and invitation changes) in its own storage, and holds the node's channel,
 * a hibernatable WebSocket, over which each event goes out at once. The node acknowledges by
 * sequence number; anything unacknowledged is sent again when it reconnects.
 *
 * Relaying through the target's own object keeps the backbone free of any object that every agent
 * passes through: the load of handshakes spreads over as many objects as there are nodes.
 */
import { DurableObject } from "cloudflare:workers";
import { NODE_CHANNEL_CLOSE, type NodeEvent } from "@pilot/protocol";
import { acknowledge, backlog, clearInbox, enqueue, openInbox, type InboxEvent, type InboxHost } from "../worker/nodes/inbox.ts";
import { forgetPresence, lastSeen, recordHeartbeat } from "../worker/nodes/presence.ts";
import { SignalBudget, type PathWanted, type Requester } from "../worker/nodes/signals.ts";

export class NodeHub extends DurableObject<Env> {
  readonly #inbox: InboxHost;
  /** In memory only: an object that hibernates forgets the spacing, which only lets one more through. */
  readonly #signals = new SignalBudget();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#inbox = { sql: ctx.storage.sql, kv: ctx.storage.kv };
    openInbox(this.#inbox);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ── Presence ──

  async heartbeat(epoch: number): Promise<void> {
    recordHeartbeat(this.ctx.storage.kv, epoch);
  }

  async lastSeen(epoch: number): Promise<number | null> {
    return lastSeen(this.ctx.storage.kv, epoch, this.ctx.getWebSockets().length > 0);
  }

  /** The node deregistered: forget its presence and inbox, and close its channel. */
  async clear(): Promise<void> {
    clearInbox(this.#inbox);
    forgetPresence(this.ctx.storage.kv);
    for (const ws of this.ctx.getWebSockets()) ws.close(NODE_CHANNEL_CLOSE.deregistered, "the node deregistered");
  }

  // ── Inbox and channel ──

  /** Queues an event for the node and pushes it at once if the node is connected. */
  async deliver(event: InboxEvent, madeAt = Date.now()): Promise<void> {
    const message = enqueue(this.#inbox, event, madeAt);
    if (message === undefined) return;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(message);
      } catch {
        // The event stays queued and goes out on the next connection.
      }
    }
  }

  /** Sends a signal to the node's open channel, within the budget; nothing is queued (worker/nodes/signals.ts). */
  async signal(event: PathWanted, requester: Requester): Promise<void> {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0 || !this.#signals.admit(event.node_id, requester, Date.now())) return;
    const message = JSON.stringify(event);
    for (const ws of sockets) {
      try {
        ws.send(message);
      } catch {
        // A signal is worth something only now: nothing to keep.
      }
    }
  }

  /** Upgrades to the node's channel; the Worker has authenticated the node (x-pilot-node). */
  override async fetch(request: Request): Promise<Response> {
    const nodeId = Number(request.headers.get("x-pilot-node"));
    // One channel per node: a newer connection replaces the old one.
    for (const old of this.ctx.getWebSockets()) old.close(NODE_CHANNEL_CLOSE.replaced, "replaced by a newer channel");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const { truncated, messages } = backlog(this.#inbox);
    server.send(JSON.stringify({ type: "hello", node_id: nodeId, truncated } satisfies NodeEvent));
    for (const message of messages) server.send(message);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(_ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    acknowledge(this.#inbox, message);
  }

  override async webSocketClose(): Promise<void> {
    // Nothing to tidy: unacknowledged events stay queued for the next connection.
  }
}
