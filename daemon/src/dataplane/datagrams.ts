/**
 * This node's datagram ports: the programs listening on each, and the datagrams programs send.
 * A port may have several listeners, and each gets every datagram that arrives on it; a datagram
 * on a port nobody listens on is dropped. Sending needs no port of one's own: without a source
 * port, an ephemeral one is picked for the datagram.
 */
/** A datagram from an allowed peer, as its tunnel delivers it. */
export interface DatagramIn {
  from: number;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

const FIRST_EPHEMERAL = 49152;
const EPHEMERAL_PORTS = 16384;

export type Deliver = (d: DatagramIn) => void;

export class Datagrams {
  readonly #send: (peer: number, srcPort: number, dstPort: number, payload: Buffer) => Promise<void>;
  readonly #listeners = new Map<number, Set<Deliver>>();
  /** Datagrams that arrived for a program with no room for them (it was not reading). */
  #dropped = 0;

  /** `send` puts one datagram into the peer's tunnel. */
  constructor(send: (peer: number, srcPort: number, dstPort: number, payload: Buffer) => Promise<void>) {
    this.#send = send;
  }

  /** Hands every datagram arriving on `port` to `deliver`, until the returned function is called. */
  listen(port: number, deliver: Deliver): () => void {
    const set = this.#listeners.get(port) ?? new Set();
    set.add(deliver);
    this.#listeners.set(port, set);
    return () => {
      set.delete(deliver);
      if (set.size === 0 && this.#listeners.get(port) === set) this.#listeners.delete(port);
    };
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Counts a datagram a listener had no room for. */
  drop(): void {
    this.#dropped++;
  }

  /** A datagram from an allowed peer's tunnel. */
  receive(d: DatagramIn): void {
    this.#listeners.get(d.dstPort)?.forEach((deliver) => deliver(d));
  }

  send(peer: number, port: number, payload: Buffer, srcPort = FIRST_EPHEMERAL + Math.floor(Math.random() * EPHEMERAL_PORTS)): Promise<void> {
    return this.#send(peer, srcPort, port, payload);
  }
}
