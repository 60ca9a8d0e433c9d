/**
 * One Durable Object per node: the registry's live side of that node. It keeps the node's presence
 * (worker/nodes/presence.ts) and its inbox (worker/nodes/inbox.ts: handshake requests, decisions,
 * revocations, membership and invitation changes) in its own storage, and holds the node's channel,
 * a hibernatable WebSocket, over which each event goes out at once. The node acknowledges by
 * sequence number; anything unacknowledged is sent again when it reconnects.
 *
 * It also holds the node's relay socket (worker/relay/relay.ts): the tunnel frames the node sends
 * through the registry leave from here, and the frames sent to it arrive here, past the privacy gate.
 *
 * Its alarm ends the time-boxed trust pairs whose smaller node is this one, at their end
 * (worker/trust/pairs.ts): it deletes them and tells both nodes.
 *
 * Relaying through the target's own object keeps the backbone free of any object that every agent
 * passes through: the load of handshakes, and of relayed frames, spreads over as many objects as
 * there are nodes.
 */
import { DurableObject } from "cloudflare:workers";
import { NODE_CHANNEL_CLOSE, type NodeEvent } from "@pilot/protocol";
import { acknowledge, backlog, clearInbox, enqueue, openInbox, type InboxEvent, type InboxHost } from "../worker/nodes/inbox.ts";
import { database } from "../worker/db/client.ts";
import { nodeHub } from "../worker/nodes/hub.ts";
import { forgetPresence, lastSeen, recordHeartbeat } from "../worker/nodes/presence.ts";
import { SignalBudget, type PathWanted, type Requester } from "../worker/nodes/signals.ts";
import { endsRelations, Relay, RELAY_TAG, type RelaySender } from "../worker/relay/relay.ts";
import { nextExpiry, sweepExpiredTrust } from "../worker/trust/pairs.ts";
import { metrics, RelayTally, type Metrics } from "../worker/observability/metrics.ts";

/** The key under which the object remembers its node's ID, for the trust-expiry alarm. */
const NODE_KEY = "trust-expiry-node";

export class NodeHub extends DurableObject<Env> {
  readonly #inbox: InboxHost;
  /** In memory only: an object that hibernates forgets the spacing, which only lets one more through. */
  readonly #signals = new SignalBudget();
  readonly #relay: Relay;
  readonly #metrics: Metrics;
  readonly #relayed: RelayTally;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#inbox = { sql: ctx.storage.sql, kv: ctx.storage.kv };
    openInbox(this.#inbox);
    this.#metrics = metrics(env);
    this.#relayed = new RelayTally(this.#metrics);
    this.#relay = new Relay({
      db: database(env),
      sockets: () => ctx.getWebSockets(RELAY_TAG),
      accept: (socket) => ctx.acceptWebSocket(socket, [RELAY_TAG]),
      peer: (node) => nodeHub(env, node),
      delivered: (bytes) => this.#relayed.add(bytes, Date.now()),
    });
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ── Presence ──

  async heartbeat(epoch: number): Promise<void> {
    recordHeartbeat(this.ctx.storage.kv, epoch);
  }

  async lastSeen(epoch: number): Promise<number | null> {
    return lastSeen(this.ctx.storage.kv, epoch, this.#channel().length > 0);
  }

  /** The node deregistered: forget its presence and inbox, and close its channel and its relay socket. */
  async clear(): Promise<void> {
    clearInbox(this.#inbox);
    forgetPresence(this.ctx.storage.kv);
    for (const ws of this.#channel()) ws.close(NODE_CHANNEL_CLOSE.deregistered, "the node deregistered");
    await this.#relay.end();
  }

  /**
   * The node moved to a new identity key, which revoked its tokens: its channel and relay socket,
   * opened with one of them, close; its daemon connects again with its new token (and no one else
   * who held an old one can).
   */
  async rekeyed(): Promise<void> {
    for (const ws of this.#channel()) ws.close(NODE_CHANNEL_CLOSE.rekeyed, "the node moved to a new identity key");
    this.#relay.rekeyed();
  }

  /**
   * The registry's operator suspended the node, which revoked its tokens: its channel and relay
   * socket close, and every relayed path involving it is checked afresh. Its inbox is kept: it is
   * still the node, and hears what it missed once restored.
   */
  async suspended(): Promise<void> {
    for (const ws of this.#channel()) ws.close(NODE_CHANNEL_CLOSE.suspended, "the node is suspended by the registry's operator");
    await this.#relay.suspended();
  }

  // ── Inbox and channel ──

  /**
   * Queues an event for the node and pushes it at once if the node is connected. An event that ends
   * one of the node's relations also has its relayed paths checked again.
   */
  async deliver(event: InboxEvent, madeAt = Date.now()): Promise<void> {
    if (endsRelations(event)) await this.#relay.regate();
    const message = enqueue(this.#inbox, event, madeAt);
    if (message === undefined) return;
    for (const ws of this.#channel()) {
      try {
        ws.send(message);
      } catch {
        // The event stays queued and goes out on the next connection.
      }
    }
  }

  /** Sends a signal to the node's open channel, within the budget; nothing is queued (worker/nodes/signals.ts). */
  async signal(event: PathWanted, requester: Requester): Promise<void> {
    const sockets = this.#channel();
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

  // ── Relay ──

  /** A batch of frames for this node from another node's object (worker/relay/peers.ts, RelayPeer). */
  async relayIn(from: RelaySender, batch: ArrayBuffer): Promise<boolean> {
    return this.#relay.toNode(from, batch);
  }

  /** Another node lost a relation: its next batch to this node passes the gate afresh. */
  async relayForget(sender: number): Promise<void> {
    this.#relay.forget(sender);
  }

  /** This node lost a relation or went private: every relayed path involving it is checked afresh. */
  async regate(): Promise<void> {
    await this.#relay.regate();
  }

  // ── Trust that ends by itself ──

  /** A pair whose smaller node is this one ends at `at`: the alarm sweeps then, if no earlier one is set. */
  async sweepTrustAt(nodeId: number, at: number): Promise<void> {
    this.ctx.storage.kv.put(NODE_KEY, nodeId);
    const set = await this.ctx.storage.getAlarm();
    if (set === null || at < set) await this.ctx.storage.setAlarm(at);
  }

  /** Ends the pairs that are due and sets the alarm for the next end. A failure is retried by the runtime. */
  override async alarm(): Promise<void> {
    const nodeId = this.ctx.storage.kv.get<number>(NODE_KEY);
    if (nodeId === undefined) return;
    const db = database(this.env);
    const now = Date.now();
    await sweepExpiredTrust(this.env, db, now, nodeId);
    const next = await nextExpiry(db, nodeId, now);
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  // ── Sockets ──

  /**
   * Upgrades to the node's channel, or with x-pilot-relay (the token epoch) to its relay socket;
   * the Worker has authenticated the node (x-pilot-node).
   */
  override async fetch(request: Request): Promise<Response> {
    const nodeId = Number(request.headers.get("x-pilot-node"));
    const relayEpoch = request.headers.get("x-pilot-relay");
    if (relayEpoch !== null) {
      const upgraded = this.#relay.open(nodeId, Number(relayEpoch));
      this.#counted("relay", "open");
      return upgraded;
    }
    // One channel per node: a newer connection replaces the old one.
    for (const old of this.#channel()) old.close(NODE_CHANNEL_CLOSE.replaced, "replaced by a newer channel");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const { truncated, messages } = backlog(this.#inbox);
    server.send(JSON.stringify({ type: "hello", node_id: nodeId, truncated } satisfies NodeEvent));
    for (const message of messages) server.send(message);
    this.#counted("node", "open");
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (this.#isRelay(ws)) this.#relay.fromNode(ws, message);
    else acknowledge(this.#inbox, message);
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    // Nothing to tidy: unacknowledged events stay queued for the next connection, and a relay
    // socket leaves nothing behind that its next one needs. The metrics hear of it, and get what
    // the relay delivered so far, which an object about to hibernate would otherwise lose.
    const relay = this.#isRelay(ws);
    if (relay) this.#relayed.flush();
    this.#counted(relay ? "relay" : "node", "close", ws);
  }

  /** A channel or relay socket opened or closed: the metrics hear how many of its kind the object holds now. */
  #counted(kind: "node" | "relay", change: "open" | "close", closing?: WebSocket): void {
    const open = (kind === "relay" ? this.ctx.getWebSockets(RELAY_TAG) : this.#channel()).filter((ws) => ws !== closing);
    this.#metrics.write("channel", [kind, change], [open.length]);
  }

  /** The channel's sockets: untagged, as they were before relay sockets shared the object. */
  #channel(): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => !this.#isRelay(ws));
  }

  #isRelay(ws: WebSocket): boolean {
    return this.ctx.getTags(ws).includes(RELAY_TAG);
  }
}
