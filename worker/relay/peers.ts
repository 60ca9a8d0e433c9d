/**
 * The destinations a node relays to, at its own object. One stub per destination, kept while in
 * use, so the calls from this object to that one arrive in order; each call is sent and not waited
 * for, so a slow destination holds up only its own frames. Bounded (worker/relay/limits.ts): how
 * many destinations, how fast new ones come, and how many bytes may be on their way to each.
 */
import { encodeRelayMessage, TokenBucket } from "@pilot/protocol";
import type { RelaySender } from "./gate.ts";
import { ANSWER_WINDOW_MS, GATE_REFUSAL_MS, IN_FLIGHT_BYTES_PER_PEER, NEW_PEERS_BURST, NEW_PEERS_PER_SECOND, SENDER_PEERS } from "./limits.ts";
import { backgroundLog } from "../observability/log.ts";

/** A destination's object, as the relay calls it (durable-objects/node-hub.ts). */
export interface RelayPeer {
  /**
   * Delivers the batch (a relay message naming the sender) to the destination's relay socket if
   * the gate lets the sender through. False means "refused": the gate said no, or the destination
   * has no relay socket; the sender's object then holds its frames for that destination back for
   * a while, so a stranger cannot keep a private node's object busy. That answer never goes further.
   */
  relayIn(from: RelaySender, batch: ArrayBuffer): Promise<boolean>;
  /** Forgets what the gate decided for this sender. */
  relayForget(sender: number): Promise<void>;
}

interface Peer {
  readonly stub: RelayPeer;
  inFlight: number;
  refusedUntil: number;
  /** When the destination last took a batch from this node: its answers pass this node's gate for a while. */
  takenAt: number;
}

export class Peers {
  readonly #connect: (node: number) => RelayPeer;
  /** By destination, least recently used first. */
  readonly #byNode = new Map<number, Peer>();
  readonly #newPeers = new TokenBucket(NEW_PEERS_BURST, NEW_PEERS_PER_SECOND);
  /** The node this object relays for, once it has relayed anything. */
  #sender: number | undefined;

  constructor(connect: (node: number) => RelayPeer) {
    this.#connect = connect;
  }

  /** Sends one batch of frames towards `node`, or drops it. */
  send(node: number, frames: readonly Uint8Array[], from: RelaySender, now: number): void {
    this.#sender = from.node;
    const peer = this.#peer(node, now);
    if (!peer || now < peer.refusedUntil) return;
    const batch = encodeRelayMessage(frames.map((frame) => ({ node: from.node, frame })));
    if (peer.inFlight + batch.length > IN_FLIGHT_BYTES_PER_PEER) return;
    peer.inFlight += batch.length;
    void peer.stub
      .relayIn(from, batch.buffer)
      .then(
        (taken) => {
          if (taken) peer.takenAt = Date.now();
          else peer.refusedUntil = Date.now() + GATE_REFUSAL_MS;
        },
        () => {
          // Lost on the way, as a datagram may be.
        },
      )
      .finally(() => {
        peer.inFlight -= batch.length;
      });
  }

  /** Whether `node` took frames from this node lately, so that its answers may come back (ANSWER_WINDOW_MS). */
  answers(node: number, now: number): boolean {
    const peer = this.#byNode.get(node);
    return peer !== undefined && now - peer.takenAt < ANSWER_WINDOW_MS;
  }

  /** Has every destination forget what its gate decided for this node, and forgets whom it wrote to; done when all have. */
  async withdraw(): Promise<void> {
    for (const peer of this.#byNode.values()) peer.takenAt = 0;
    const sender = this.#sender;
    if (sender === undefined) return;
    await Promise.all([...this.#byNode.values()].map((peer) => this.#forget(peer, sender)));
  }

  #peer(node: number, now: number): Peer | undefined {
    const known = this.#byNode.get(node);
    if (known) {
      this.#byNode.delete(node);
      this.#byNode.set(node, known);
      return known;
    }
    if (!this.#newPeers.take(1, now)) return undefined;
    if (this.#byNode.size >= SENDER_PEERS) {
      const [oldest, peer] = this.#byNode.entries().next().value!;
      this.#byNode.delete(oldest);
      // It may hold an admission that only this object would ever have cleared.
      void this.#forget(peer, this.#sender!);
    }
    const peer: Peer = { stub: this.#connect(node), inFlight: 0, refusedUntil: 0, takenAt: 0 };
    this.#byNode.set(node, peer);
    return peer;
  }

  async #forget(peer: Peer, sender: number): Promise<void> {
    try {
      await peer.stub.relayForget(sender);
    } catch (e) {
      // The destination's admission then lasts until GATE_ADMISSION_MS at most.
      backgroundLog.error("relay_withdraw_failed", { sender }, e);
    }
  }
}
