/**
 * The relay (docs/relay.md), as a node's own Durable Object runs it: the node's relay socket, the
 * frames the node sends (read, filtered, budgeted, and sent on to each destination's object), and
 * the frames sent to it (let through the privacy gate, within the node's inbound share). The object
 * (durable-objects/node-hub.ts) hands it a narrow host and routes its sockets and calls here.
 *
 * Nothing ever goes back to a sender: no error, no acknowledgement. Frames to a private node, a
 * missing node, an offline node or a node without a relay socket are all dropped the same way, at
 * the destination, after the sender's own object has long finished with them.
 */
import { decodeRelayMessage, isTunnelFrame, RELAY_CLOSE, RELAY_FRAME_HEADER_BYTES, TokenBucket, type RelayFrame } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import type { InboxEvent } from "../nodes/inbox.ts";
import { Gate, type RelaySender } from "./gate.ts";
import { InboundShare } from "./inbound-share.ts";
import { SENDER_BATCHES_PER_SECOND, SENDER_BYTES_PER_SECOND } from "./limits.ts";
import { Peers, type RelayPeer } from "./peers.ts";

export type { RelaySender } from "./gate.ts";
export type { RelayPeer } from "./peers.ts";

/** The tag of relay sockets among the object's hibernatable sockets; the node's channel has none. */
export const RELAY_TAG = "relay";

/** What the relay needs from the node's object. */
export interface RelayHost {
  readonly db: Database;
  /** The node's relay sockets: one, or for a moment more while a newer one replaces it. */
  sockets(): WebSocket[];
  /** Accepts a relay socket: hibernatable, tagged RELAY_TAG. */
  accept(socket: WebSocket): void;
  /** Another node's object. */
  peer(node: number): RelayPeer;
  /** A batch of this many bytes went out on the node's relay socket (for the metrics). */
  delivered(bytes: number): void;
}

/** Kept on the socket itself (serializeAttachment), so it outlives hibernation. */
interface SocketOwner {
  node: number;
  epoch: number;
}

/** Events after which a node's relayed paths must be checked again: the node lost a relation. */
export const endsRelations = (event: InboxEvent) => event.type === "network_removed" || event.type === "trust_revoked";

export class Relay {
  readonly #host: RelayHost;
  readonly #gate: Gate;
  readonly #peers: Peers;
  readonly #inbound = new InboundShare();
  readonly #bytes = new TokenBucket(SENDER_BYTES_PER_SECOND, SENDER_BYTES_PER_SECOND);
  readonly #batches = new TokenBucket(SENDER_BATCHES_PER_SECOND, SENDER_BATCHES_PER_SECOND);
  readonly #incarnation = crypto.randomUUID();

  constructor(host: RelayHost) {
    this.#host = host;
    this.#gate = new Gate(host.db, (node) => this.#peers.answers(node, Date.now()));
    this.#peers = new Peers((node) => host.peer(node));
  }

  /** Upgrades to the node's relay socket; the Worker has authenticated the node at this token epoch. */
  open(node: number, epoch: number): Response {
    // One relay socket per node: a newer one replaces the old.
    for (const old of this.#host.sockets()) old.close(RELAY_CLOSE.replaced, "replaced by a newer relay connection");
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.#host.accept(server);
    server.serializeAttachment({ node, epoch } satisfies SocketOwner);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A message the node sent on its relay socket. */
  fromNode(socket: WebSocket, message: string | ArrayBuffer): void {
    const frames = typeof message === "string" ? undefined : decodeRelayMessage(new Uint8Array(message));
    if (!frames) {
      socket.close(RELAY_CLOSE.malformed, "not a relay message");
      return;
    }
    const owner = socket.deserializeAttachment() as SocketOwner;
    const from: RelaySender = { ...owner, incarnation: this.#incarnation };
    const now = Date.now();
    for (const [node, batch] of byDestination(frames, owner.node)) {
      if (!this.#bytes.holds(batch.bytes, now) || !this.#batches.holds(1, now)) continue;
      this.#bytes.spend(batch.bytes);
      this.#batches.spend(1);
      this.#peers.send(node, batch.frames, from, now);
    }
  }

  /** A batch for this node from another node's object; false if refused (see RelayPeer). */
  async toNode(from: RelaySender, batch: ArrayBuffer): Promise<boolean> {
    const me = this.#socket();
    if (!me || !(await this.#gate.allows(from, me.owner, Date.now()))) return false;
    // The socket may have been replaced while the gate asked.
    const socket = this.#socket()?.socket;
    if (!socket) return false;
    if (this.#inbound.admit(from.node, batch.byteLength, Date.now())) {
      try {
        socket.send(batch);
        this.#host.delivered(batch.byteLength);
      } catch {
        // Closed under our feet: lost, as a datagram may be.
      }
    }
    return true;
  }

  /** Another node lost a relation: its next batch to this node is checked afresh. */
  forget(sender: number): void {
    this.#gate.forget(sender);
  }

  /**
   * This node lost a relation, or its visibility: every path through the relay that involves it is
   * checked afresh, both ways. Its own gate forgets every sender, and each destination it relayed
   * to forgets it; done when all have.
   */
  async regate(): Promise<void> {
    this.#gate.forgetAll();
    await this.#peers.withdraw();
  }

  /** The node deregistered. */
  async end(): Promise<void> {
    for (const socket of this.#host.sockets()) socket.close(RELAY_CLOSE.deregistered, "the node deregistered");
    await this.regate();
  }

  /** The registry's operator suspended the node: nothing relays to or from it until it is restored. */
  async suspended(): Promise<void> {
    for (const socket of this.#host.sockets()) socket.close(RELAY_CLOSE.suspended, "the node is suspended by the registry's operator");
    await this.regate();
  }

  /** The node moved to a new identity key: its relay socket was opened with a token now revoked. */
  rekeyed(): void {
    for (const socket of this.#host.sockets()) socket.close(RELAY_CLOSE.rekeyed, "the node moved to a new identity key");
  }

  #socket(): { socket: WebSocket; owner: SocketOwner } | undefined {
    const socket = this.#host.sockets().find((s) => s.readyState === WebSocket.OPEN);
    return socket && { socket, owner: socket.deserializeAttachment() as SocketOwner };
  }
}

/**
 * The frames of one message grouped by destination, each group in the order sent, with its size as
 * a relay message. Frames that are not tunnel frames, and frames to the sender itself, are dropped.
 */
function byDestination(frames: readonly RelayFrame[], sender: number): Map<number, { frames: Uint8Array[]; bytes: number }> {
  const groups = new Map<number, { frames: Uint8Array[]; bytes: number }>();
  for (const { node, frame } of frames) {
    if (node === sender || !isTunnelFrame(frame)) continue;
    const group = groups.get(node) ?? { frames: [], bytes: 0 };
    group.frames.push(frame);
    group.bytes += RELAY_FRAME_HEADER_BYTES + frame.length;
    groups.set(node, group);
  }
  return groups;
}
