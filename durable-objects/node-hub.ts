/**
 * One Durable Object per node: the registry's live side of that node.
 *
 * - **Presence**: heartbeats land here instead of in D1, so a million agents heartbeating touch a
 *   million small objects, not one database. Presence is kept per token epoch, so a heartbeat that
 *   was in flight when the node deregistered cannot show the re-registered node online.
 * - **Inbox and channel**: handshake requests, decisions and revocations addressed to the node are
 *   queued here (in the object's own SQLite) and pushed at once over the node's channel, a
 *   hibernatable WebSocket. The node acknowledges by sequence number; anything unacknowledged is
 *   sent again when it reconnects, so an offline node misses nothing.
 *
 * Events about one network's membership, its invitation or its token say only *that* something
 * changed (the node re-reads its networks): each replaces any earlier one of its kind for that
 * network still queued, so a flood of invitations and withdrawals cannot push trust events out.
 *
 * Relaying through the target's own object keeps the backbone free of any object that every agent
 * passes through: the load of handshakes spreads over as many objects as there are nodes.
 */
import { DurableObject } from "cloudflare:workers";
import { NODE_CHANNEL_CLOSE, NodeAck, type NodeEvent } from "@pilot/protocol";

const PRESENCE = "presence";
const TRUNCATED = "truncated";
const CLEARED_AT = "cleared_at";

/** Oldest events are dropped past this many unacknowledged ones. */
export const INBOX_LIMIT = 1000;

interface Presence {
  lastSeen: number;
  epoch: number;
}

/** An event as queued: everything but its sequence number, which the inbox assigns. */
export type InboxEvent = NodeEvent extends infer E ? (E extends { seq: number } ? Omit<E, "seq"> : never) : never;

/** The event types that replace one another, for the same network, while queued. */
const SUPERSEDING: readonly (readonly InboxEvent["type"][])[] = [
  ["network_added", "network_removed"],
  ["invitation_received", "invitation_ended"],
  ["join_token_rotated"],
];

export class NodeHub extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)");
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ── Presence ──

  /** Records that the node, at this token epoch, reported in now. */
  async heartbeat(epoch: number): Promise<void> {
    const stored = this.ctx.storage.kv.get<Presence>(PRESENCE);
    if (stored && stored.epoch > epoch) return;
    this.ctx.storage.kv.put(PRESENCE, { lastSeen: Date.now(), epoch } satisfies Presence);
  }

  /**
   * When the node at this epoch was last seen (Unix ms): now if its channel is open (deregistration
   * closes every channel, so an open one is the current node's), else its last heartbeat.
   */
  async lastSeen(epoch: number): Promise<number | null> {
    if (this.ctx.getWebSockets().length > 0) return Date.now();
    const stored = this.ctx.storage.kv.get<Presence>(PRESENCE);
    return stored?.epoch === epoch ? stored.lastSeen : null;
  }

  /** The node deregistered: forget its presence and inbox, and close its channel. */
  async clear(): Promise<void> {
    this.ctx.storage.kv.put(CLEARED_AT, Date.now());
    this.ctx.storage.kv.delete(PRESENCE);
    this.ctx.storage.sql.exec("DELETE FROM inbox");
    for (const ws of this.ctx.getWebSockets()) ws.close(NODE_CHANNEL_CLOSE.deregistered, "the node deregistered");
  }

  // ── Inbox ──

  /**
   * Queues an event for the node and pushes it at once if the node is connected. An event made
   * (`madeAt`) before the node last deregistered is about that registration, and is dropped: a
   * delivery still on its way then must not reach the node registered again with the same key.
   */
  async deliver(event: InboxEvent, madeAt = Date.now()): Promise<void> {
    if (madeAt < (this.ctx.storage.kv.get<number>(CLEARED_AT) ?? 0)) return;
    const kinds = SUPERSEDING.find((k) => k.includes(event.type));
    if (kinds && "network_id" in event) {
      this.ctx.storage.sql.exec(
        `DELETE FROM inbox WHERE json_extract(event, '$.network_id') = ? AND json_extract(event, '$.type') IN (${kinds.map(() => "?").join(", ")})`,
        event.network_id,
        ...kinds,
      );
    }
    const seq = this.ctx.storage.sql
      .exec<{ seq: number }>("INSERT INTO inbox (event) VALUES (?) RETURNING seq", JSON.stringify(event))
      .one().seq;
    // By rows kept, not by sequence numbers: coalesced events leave gaps that must not count.
    const trimmed = this.ctx.storage.sql.exec("DELETE FROM inbox WHERE seq NOT IN (SELECT seq FROM inbox ORDER BY seq DESC LIMIT ?)", INBOX_LIMIT).rowsWritten;
    // The next hello says so: the node must re-read its pending requests and trust list.
    if (trimmed > 0) this.ctx.storage.kv.put(TRUNCATED, true);
    const message = JSON.stringify({ ...event, seq });
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(message);
      } catch {
        // The event stays queued and goes out on the next connection.
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
    const truncated = this.ctx.storage.kv.get<boolean>(TRUNCATED) ?? false;
    this.ctx.storage.kv.delete(TRUNCATED);
    server.send(JSON.stringify({ type: "hello", node_id: nodeId, truncated } satisfies NodeEvent));
    for (const row of this.ctx.storage.sql.exec<{ seq: number; event: string }>("SELECT seq, event FROM inbox ORDER BY seq")) {
      server.send(JSON.stringify({ ...JSON.parse(row.event), seq: row.seq }));
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(_ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string") return;
    let ack;
    try {
      ack = NodeAck.safeParse(JSON.parse(message));
    } catch {
      return;
    }
    if (ack.success) this.ctx.storage.sql.exec("DELETE FROM inbox WHERE seq <= ?", ack.data.seq);
  }

  override async webSocketClose(): Promise<void> {
    // Nothing to tidy: unacknowledged events stay queued for the next connection.
  }
}

export const nodeHub = (env: Env, nodeId: number) => env.NODE_HUB.getByName(String(nodeId));
