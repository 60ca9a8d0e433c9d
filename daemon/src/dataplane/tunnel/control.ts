/**
 * Control packets to port 0: a ping carries a random token, and the peer sends it back in a pong
 * (the same packet with the ACK flag), which times the round trip (`pilotctl ping`).
 */
import { FLAG, PROTOCOL, type Packet, type PacketFields } from "../../wire/packet.ts";
import { PilotError } from "../../errors.ts";

/** A packet to send to a peer: the tunnel layer fills in both addresses. */
export type Outgoing = Omit<PacketFields, "src" | "dst">;

const pingKey = (peer: number, token: Buffer) => `${peer}:${token.toString("hex")}`;

export const isControl = (packet: Packet): boolean => packet.protocol === PROTOCOL.control && packet.dstPort === 0;

export class Control {
  readonly #send: (peer: number, packet: Outgoing) => void | Promise<void>;
  /** Pings waiting for their pong, by peer and token. */
  readonly #pings = new Map<string, () => void>();

  constructor(send: (peer: number, packet: Outgoing) => void | Promise<void>) {
    this.#send = send;
  }

  /**
   * Round-trip time to a peer, in milliseconds. `send` overrides how the ping goes out: a keepalive
   * goes straight into the open tunnel, without the checks that would start a fresh exchange.
   */
  async ping(peer: number, timeoutMs: number, send = this.#send): Promise<number> {
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(8)));
    const key = pingKey(peer, token);
    const pong = new Promise<void>((resolve) => this.#pings.set(key, resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const started = performance.now();
      await send(peer, { flags: 0, protocol: PROTOCOL.control, srcPort: 0, dstPort: 0, seq: 0, ack: 0, window: 0, payload: token });
      const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      if ((await Promise.race([pong, timedOut])) === "timeout") {
        throw new PilotError("timeout", `node ${peer} did not answer within ${timeoutMs} ms`, "it may be offline, or may not accept traffic from this node");
      }
      return performance.now() - started;
    } finally {
      clearTimeout(timer);
      this.#pings.delete(key);
    }
  }

  /** A pong to a ping we sent: let it through even from a peer we would not accept traffic from. */
  awaited(packet: Packet): boolean {
    return packet.protocol === PROTOCOL.control && (packet.flags & FLAG.ack) !== 0 && this.#pings.has(pingKey(packet.src.node, packet.payload));
  }

  /** A control packet from a peer: a pong ends its ping; a ping gets the pong to send back. */
  receive(peer: number, packet: Packet): Outgoing | null {
    if (packet.flags & FLAG.ack) {
      this.#pings.get(pingKey(peer, packet.payload))?.();
      return null;
    }
    return { ...packet, flags: FLAG.ack };
  }
}
