/**
 * Control packets to port 0, sealed like every packet. The payload is `u8 kind | token (8)`, and a
 * request's answer is the same nine bytes with the ACK flag:
 *
 *   0 ping    times the round trip (`pilotctl ping`, keepalives)
 *   1 probe   path MTU discovery (path-mtu.ts): the request is padded with zeros to the size under
 *             test, and its answer says that size got through
 *
 * An answer is nine bytes whatever the request's size, so a peer cannot make this node send more
 * than it was sent; anything else to port 0 (another kind, another length, padding on a ping or an
 * answer) is dropped.
 */
import { FLAG, PROTOCOL, type Packet, type PacketFields } from "../../wire/packet.ts";
import { PilotError } from "../../errors.ts";

/** A packet to send to a peer: the tunnel layer fills in both addresses. */
export type Outgoing = Omit<PacketFields, "src" | "dst">;

const KIND = { ping: 0, probe: 1 } as const;
const TOKEN_BYTES = 8;
/** A control message without padding: every ping and every answer. */
export const CONTROL_BYTES = 1 + TOKEN_BYTES;

const pingKey = (peer: number, token: Buffer) => `${peer}:${token.toString("hex")}`;

export const isControl = (packet: Packet): boolean => packet.protocol === PROTOCOL.control && packet.dstPort === 0;

const message = (flags: number, payload: Buffer): Outgoing => ({ flags, protocol: PROTOCOL.control, srcPort: 0, dstPort: 0, seq: 0, ack: 0, window: 0, payload });

/** A fresh random token: a ping's, or a probe's. */
export const newToken = (): Buffer => Buffer.from(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));

/**
 * A probe whose packet payload is `payloadBytes` long (at least CONTROL_BYTES): the kind, the
 * token, and zeros. The peer's answer carries the token back.
 */
export function probe(token: Buffer, payloadBytes: number): Outgoing {
  const payload = Buffer.alloc(Math.max(payloadBytes, CONTROL_BYTES));
  payload[0] = KIND.probe;
  token.copy(payload, 1);
  return message(0, payload);
}

export class Control {
  readonly #send: (peer: number, packet: Outgoing) => void | Promise<void>;
  readonly #probeAnswered: (peer: number, token: Buffer) => void;
  /** Pings waiting for their pong, by peer and token. */
  readonly #pings = new Map<string, () => void>();

  /** `probeAnswered` hears of each answer to a probe (which it sent itself, with `probe`). */
  constructor(send: (peer: number, packet: Outgoing) => void | Promise<void>, probeAnswered: (peer: number, token: Buffer) => void = () => undefined) {
    this.#send = send;
    this.#probeAnswered = probeAnswered;
  }

  /**
   * Round-trip time to a peer, in milliseconds. `send` overrides how the ping goes out: a keepalive
   * goes straight into the open tunnel, without the checks that would start a fresh exchange.
   */
  async ping(peer: number, timeoutMs: number, send = this.#send): Promise<number> {
    const token = newToken();
    const key = pingKey(peer, token);
    const pong = new Promise<void>((resolve) => this.#pings.set(key, resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const started = performance.now();
      await send(peer, message(0, Buffer.concat([Buffer.of(KIND.ping), token])));
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
    return isAnswer(packet, KIND.ping) && this.#pings.has(pingKey(packet.src.node, token(packet)));
  }

  /** A control packet from a peer: an answer goes to what awaits it; a request gets the answer to send back. */
  receive(peer: number, packet: Packet): Outgoing | null {
    const p = packet.payload;
    if (isAnswer(packet, KIND.ping)) this.#pings.get(pingKey(peer, token(packet)))?.();
    else if (isAnswer(packet, KIND.probe)) this.#probeAnswered(peer, token(packet));
    else if (packet.flags === 0 && p.length >= CONTROL_BYTES && (p[0] === KIND.probe || (p[0] === KIND.ping && p.length === CONTROL_BYTES))) {
      return message(FLAG.ack, Buffer.from(p.subarray(0, CONTROL_BYTES)));
    }
    return null;
  }
}

const isAnswer = (packet: Packet, kind: number): boolean =>
  packet.protocol === PROTOCOL.control && packet.flags === FLAG.ack && packet.payload.length === CONTROL_BYTES && packet.payload[0] === kind;

const token = (packet: Packet): Buffer => packet.payload.subarray(1, CONTROL_BYTES);
