/**
 * The daemon's stream connections: the table keyed by peer and ports, listeners, the accept path
 * and its limits, and the packets between connections and tunnels.
 *
 * Enforcement (docs/security.md): a SYN from a peer this node does not allow is dropped without a
 * word (the tunnel layer already drops everything else from such a peer), and a peer that is cut
 * off loses every connection at once. Limits keep one peer from starving the others: half-open
 * connections per peer and in all, connections per peer, per port and in all, a backlog per
 * listener, and a budget, in all and per peer, for the bytes held for programs that have not read
 * them.
 */
import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { PilotError } from "../../errors.ts";
import { FLAG, PROTOCOL, type Packet, type PacketFields } from "../../wire/packet.ts";
import { parseSegment, sackHeader } from "../../wire/segment.ts";
import { Connection, type ConnectionHost } from "./connection.ts";
import type { ConnectionSettings, ConnectionSink, StreamSegment } from "./engine.ts";
import { MIN_RTO_MS } from "./rtt.ts";
import { seqAdd } from "./seq.ts";

export interface StreamLimits {
  perPort: number;
  perPeer: number;
  total: number;
  halfOpenPerPeer: number;
  halfOpen: number;
  /** Accepted connections a listener's program has not picked up yet. */
  backlog: number;
  /** How long an accepted connection waits for its program. */
  claimMs: number;
  /** Bytes received but not yet read by programs, across every connection, and from any one peer. */
  receiveBudget: number;
  peerReceiveBudget: number;
}

export const DEFAULT_LIMITS: StreamLimits = {
  perPort: 1024,
  perPeer: 256,
  total: 4096,
  halfOpenPerPeer: 32,
  halfOpen: 512,
  backlog: 128,
  claimMs: 10_000,
  receiveBudget: 256 << 20,
  peerReceiveBudget: 32 << 20,
};

const DEFAULT_SETTINGS: Omit<ConnectionSettings, "mss"> = {
  receiveBuffer: 4 << 20,
  sendBuffer: 4 << 20,
  // A stream moves at most one window per round trip: 16 MiB is 160 MB/s at 100 ms, 80 at 200.
  maxBuffer: 16 << 20,
  keepaliveMs: 15_000,
  deadAfterMs: 60_000,
  lingerMs: 10_000,
};

export interface StreamsOptions {
  /** Enforcement: whether a peer may open a connection to this port of ours. */
  allowed: (peer: number, port: number) => boolean;
  /** Ensures a tunnel to the peer exists (opening one if needed). */
  open: (peer: number) => Promise<void>;
  /** Sends a packet through the peer's tunnel. */
  send: (peer: number, packet: Omit<PacketFields, "src" | "dst">) => void | Promise<void>;
  /** The largest stream payload the path to a peer carries without fragmenting now: asked as segments go, as it follows the path. */
  mss: (peer: number) => number;
  /** Our retransmissions to the peer go unanswered: the tunnel checks its path MTU, and refreshes its keys if the peer has gone quiet. */
  refresh: (peer: number) => void;
  /** A higher floor for the retransmission timeout than MIN_RTO_MS (rtt.ts) that the path to a peer calls for now, if any. */
  rtoFloorMs?: (peer: number) => number;
  limits?: Partial<StreamLimits>;
  settings?: Partial<Omit<ConnectionSettings, "mss">>;
}

/** A connection waiting for its listener's program, and the key that claims it. */
export interface Offer {
  conn: Connection;
  key: string;
}

interface Listener {
  onConnection: (offer: Offer) => void;
  waiting: Set<number>;
}

/** One line of `pilotctl connections`. */
export type ConnectionListing = ReturnType<Streams["list"]>[number];

const FIRST_EPHEMERAL = 49152;
const SWEEP_MS = 1000;

export class Streams implements ConnectionHost {
  readonly #o: StreamsOptions;
  readonly limits: StreamLimits;
  readonly #settings: Omit<ConnectionSettings, "mss">;
  readonly #conns = new Map<string, Connection>();
  readonly #byId = new Map<number, Connection>();
  readonly #listeners = new Map<number, Listener>();
  readonly #offers = new Map<number, { key: string; listener: Listener; at: number }>();
  readonly #dialing = new Map<Connection, { resolve: (c: Connection) => void; reject: (e: PilotError) => void }>();
  readonly #perPeer = new Map<number, { all: number; halfOpen: number }>();
  readonly #perPort = new Map<number, number>();
  readonly #halfOpen = new Set<Connection>();
  #held = 0;
  readonly #heldFrom = new Map<number, number>();
  #nextId = 1;
  readonly #acksDue = new Set<Connection>();
  #ackFlush = false;
  readonly #sweep: ReturnType<typeof setInterval>;
  readonly stats = { refused: 0, dropped: 0 };

  constructor(options: StreamsOptions) {
    this.#o = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#settings = { ...DEFAULT_SETTINGS, ...options.settings };
    this.#sweep = setInterval(() => this.#tick(), Math.min(SWEEP_MS, this.#settings.keepaliveMs / 2));
    this.#sweep.unref();
  }

  // ── Programs ──

  /** Opens a connection to a port on a peer; resolves once the peer has accepted it. */
  async dial(peer: number, port: number): Promise<Connection> {
    await this.#o.open(peer);
    if (this.#byId.size >= this.limits.total) throw new PilotError("too_many_connections", `this daemon already holds ${this.limits.total} connections`, "close some connections and retry");
    const conn = this.#add(peer, this.#ephemeralPort(peer, port), port, "syn_sent");
    const opened = new Promise<Connection>((resolve, reject) => this.#dialing.set(conn, { resolve, reject }));
    conn.connect();
    return opened;
  }

  /** Accepts connections on a port; each is offered to `onConnection` to claim. Returns the unbind. */
  listen(port: number, onConnection: (offer: Offer) => void): () => void {
    if (this.#listeners.has(port)) throw new PilotError("port_in_use", `port ${port} already has a listener on this node`, "choose another port, or stop the program listening there");
    const listener: Listener = { onConnection, waiting: new Set() };
    this.#listeners.set(port, listener);
    return () => {
      if (this.#listeners.get(port) !== listener) return;
      this.#listeners.delete(port);
      for (const id of listener.waiting) this.#byId.get(id)?.reset();
    };
  }

  /** The connection offered under this ID, for the program holding its key. */
  claim(id: number, key: string): Connection {
    const offer = this.#offers.get(id);
    const conn = this.#byId.get(id);
    if (!offer || !conn || !sameKey(offer.key, key)) {
      throw new PilotError("not_found", `no connection ${id} is waiting to be accepted`, "it was accepted already, timed out, or closed; accept connections as they are offered");
    }
    this.#withdraw(id);
    return conn;
  }

  /**
   * Closes one connection (`pilotctl disconnect`): its program is let go with `connection_reset`,
   * and the peer's sees the stream end, as when a program closes it (ConnectionEngine.close).
   */
  disconnect(id: number): void {
    const conn = this.#byId.get(id);
    if (!conn) throw new PilotError("not_found", `this daemon has no connection ${id}`, "pilotctl connections lists this daemon's connections and their ids");
    // One on offer to its listener is no longer offered: no program will ever hold it.
    this.#withdraw(id);
    conn.close(new PilotError("connection_reset", `connection ${id} was closed by pilotctl disconnect`, "connect again if it is still needed"));
  }

  /** Every connection with a peer ends at once, locally, with this error (revocation). */
  dropPeer(peer: number, error: PilotError): void {
    for (const conn of [...this.#byId.values()]) if (conn.peer === peer) conn.fail(error);
  }

  /**
   * Resets every connection a peer opened to this node (or this one peer) that `allowed` no longer
   * lets it open (a port policy changed, or a grant that opened every port ended), telling the peer
   * with a RST; returns how many.
   */
  resetUnallowed(error: (conn: Connection) => PilotError, peer?: number): number {
    const gone = [...this.#byId.values()].filter((c) => c.accepted && (peer === undefined || c.peer === peer) && !this.#o.allowed(c.peer, c.localPort));
    for (const conn of gone) conn.reset(error(conn));
    return gone.length;
  }

  list() {
    return [...this.#byId.values()].map((c) => ({ id: c.id, node_id: c.peer, local_port: c.localPort, remote_port: c.remotePort, ...c.describe() }));
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Resets every connection (the daemon is stopping). */
  close(): void {
    clearInterval(this.#sweep);
    for (const conn of [...this.#byId.values()]) conn.reset(new PilotError("not_running", "the daemon is stopping", "start it again with pilotctl daemon start"));
  }

  // ── Packets from tunnels ──

  receive(peer: number, packet: Packet): void {
    const segment = parseSegment(packet.payload);
    if (!segment || packet.dstPort === 0 || packet.srcPort === 0) return void this.stats.dropped++;
    const p: StreamSegment = { flags: packet.flags, seq: packet.seq, ack: packet.ack, window: packet.window, sack: segment.sack, data: segment.data };
    const conn = this.#conns.get(key(peer, packet.dstPort, packet.srcPort));
    if (conn) return conn.receive(p);
    if ((p.flags & (FLAG.syn | FLAG.ack | FLAG.rst)) === FLAG.syn) return this.#onSyn(peer, packet, p);
    if (p.flags & FLAG.rst || !this.#o.allowed(peer, packet.dstPort)) return void this.stats.dropped++;
    this.#refuse(peer, packet, p);
  }

  #onSyn(peer: number, packet: Packet, syn: StreamSegment): void {
    // A peer we do not allow on this port learns nothing, not even whether anything listens there.
    if (!this.#o.allowed(peer, packet.dstPort)) return void this.stats.dropped++;
    const listener = this.#listeners.get(packet.dstPort);
    if (!listener) return this.#refuse(peer, packet, syn);
    const counts = this.#perPeer.get(peer);
    // Half-open floods are dropped silently, like a full SYN queue: a real peer retries.
    if ((counts?.halfOpen ?? 0) >= this.limits.halfOpenPerPeer || this.#halfOpen.size >= this.limits.halfOpen) return void this.stats.dropped++;
    if ((counts?.all ?? 0) >= this.limits.perPeer || (this.#perPort.get(packet.dstPort) ?? 0) >= this.limits.perPort || this.#byId.size >= this.limits.total) {
      return this.#refuse(peer, packet, syn);
    }
    this.#add(peer, packet.dstPort, packet.srcPort, "syn_received").answer(syn);
  }

  /** RST for a packet that belongs to no connection (RFC 9293 §3.10.7.1). */
  #refuse(peer: number, packet: Packet, p: StreamSegment): void {
    this.stats.refused++;
    const hasAck = (p.flags & FLAG.ack) !== 0;
    const length = p.data.length + (p.flags & FLAG.syn ? 1 : 0) + (p.flags & FLAG.fin ? 1 : 0);
    this.#transmit(peer, packet.dstPort, packet.srcPort, {
      flags: FLAG.rst | (hasAck ? 0 : FLAG.ack),
      seq: hasAck ? p.ack : 0,
      ack: hasAck ? 0 : seqAdd(p.seq, length),
      window: 0,
      sack: [],
      data: Buffer.alloc(0),
    });
  }

  // ── ConnectionHost ──

  send(conn: Connection, segment: StreamSegment): void {
    this.#transmit(conn.peer, conn.localPort, conn.remotePort, segment, conn);
  }

  #transmit(peer: number, localPort: number, remotePort: number, s: StreamSegment, conn?: Connection): void {
    const sent = this.#o.send(peer, {
      flags: s.flags,
      protocol: PROTOCOL.stream,
      srcPort: localPort,
      dstPort: remotePort,
      seq: s.seq,
      ack: s.ack,
      window: s.window,
      payload: [sackHeader(s.sack), s.data],
    });
    // A send can only fail while the tunnel is being set up; a connection still dialing fails with it.
    sent?.catch((e: unknown) => {
      if (conn?.phase === "syn_sent") conn.fail(e instanceof PilotError ? e : new PilotError("connection_failed", String(e), "check that this node may reach the peer"));
    });
  }

  ackSoon(conn: Connection): void {
    this.#acksDue.add(conn);
    if (this.#ackFlush) return;
    this.#ackFlush = true;
    setImmediate(() => {
      this.#ackFlush = false;
      const due = [...this.#acksDue];
      this.#acksDue.clear();
      for (const c of due) c.flushAck();
    });
  }

  stalled(conn: Connection): void {
    this.#o.refresh(conn.peer);
  }

  rtoFloorMs(conn: Connection): number {
    return Math.max(MIN_RTO_MS, this.#o.rtoFloorMs?.(conn.peer) ?? 0);
  }

  opened(conn: Connection): void {
    const dial = this.#dialing.get(conn);
    if (dial) {
      this.#dialing.delete(conn);
      return dial.resolve(conn);
    }
    this.#settle(conn);
    const listener = this.#listeners.get(conn.localPort);
    if (!listener || listener.waiting.size >= this.limits.backlog) return conn.reset();
    const offer: Offer = { conn, key: randomBytes(16).toString("hex") };
    listener.waiting.add(conn.id);
    this.#offers.set(conn.id, { key: offer.key, listener, at: performance.now() });
    listener.onConnection(offer);
  }

  closed(conn: Connection, error?: PilotError): void {
    if (this.#byId.get(conn.id) !== conn) return;
    this.#byId.delete(conn.id);
    this.#conns.delete(key(conn.peer, conn.localPort, conn.remotePort));
    this.#acksDue.delete(conn);
    this.#settle(conn);
    const counts = this.#perPeer.get(conn.peer)!;
    if (--counts.all === 0) this.#perPeer.delete(conn.peer);
    const onPort = (this.#perPort.get(conn.localPort) ?? 1) - 1;
    if (onPort) this.#perPort.set(conn.localPort, onPort);
    else this.#perPort.delete(conn.localPort);
    this.#withdraw(conn.id);
    const dial = this.#dialing.get(conn);
    if (dial) {
      this.#dialing.delete(conn);
      dial.reject(error ?? new PilotError("connection_failed", `the connection to node ${conn.peer} closed while opening`, "try again"));
    }
  }

  reserve(conn: Connection, n: number): boolean {
    const fromPeer = this.#heldFrom.get(conn.peer) ?? 0;
    if (this.#held + n > this.limits.receiveBudget || fromPeer + n > this.limits.peerReceiveBudget) return false;
    this.#held += n;
    this.#heldFrom.set(conn.peer, fromPeer + n);
    return true;
  }

  release(conn: Connection, n: number): void {
    this.#held -= n;
    const left = (this.#heldFrom.get(conn.peer) ?? 0) - n;
    if (left > 0) this.#heldFrom.set(conn.peer, left);
    else this.#heldFrom.delete(conn.peer);
  }

  // ── Bookkeeping ──

  #add(peer: number, localPort: number, remotePort: number, phase: "syn_sent" | "syn_received"): Connection {
    const settings = { ...this.#settings, mss: () => this.#o.mss(peer) };
    const conn = new Connection(this, settings, this.#nextId++, peer, localPort, remotePort, randomInt(0, 2 ** 32), phase);
    this.#conns.set(key(peer, localPort, remotePort), conn);
    this.#byId.set(conn.id, conn);
    const counts = this.#perPeer.get(peer) ?? { all: 0, halfOpen: 0 };
    counts.all++;
    if (phase === "syn_received") {
      counts.halfOpen++;
      this.#halfOpen.add(conn);
    }
    this.#perPeer.set(peer, counts);
    this.#perPort.set(localPort, (this.#perPort.get(localPort) ?? 0) + 1);
    return conn;
  }

  /** The connection is no longer on offer to its listener. */
  #withdraw(id: number): void {
    this.#offers.get(id)?.listener.waiting.delete(id);
    this.#offers.delete(id);
  }

  /** The connection is no longer half-open. */
  #settle(conn: Connection): void {
    if (this.#halfOpen.delete(conn)) this.#perPeer.get(conn.peer)!.halfOpen--;
  }

  #ephemeralPort(peer: number, remotePort: number): number {
    for (;;) {
      const port = FIRST_EPHEMERAL + randomInt(0, 0x10000 - FIRST_EPHEMERAL);
      if (!this.#conns.has(key(peer, port, remotePort))) return port;
    }
  }

  #tick(): void {
    const now = performance.now();
    for (const conn of [...this.#byId.values()]) conn.tick(now);
    for (const [id, offer] of this.#offers) {
      if (now - offer.at >= this.limits.claimMs) this.#byId.get(id)?.reset();
    }
  }
}

const key = (peer: number, localPort: number, remotePort: number) => `${peer}:${localPort}:${remotePort}`;

function sameKey(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A built-in service that sends back whatever arrives (port 7, as in the Pilot command set's echo).
 * Bytes count as read only once the peer has acknowledged their echo: until then they hold the
 * receive window shut and stay within the receive budget, so a peer that will not take its echo
 * cannot make us hold more than one window.
 */
export function echo(conn: Connection): void {
  let unechoed = 0;
  const settle = () => {
    const done = unechoed - conn.buffered;
    if (done <= 0) return;
    unechoed -= done;
    conn.consumed(done);
  };
  const sink: ConnectionSink = {
    deliver: (data) => {
      conn.write(data);
      unechoed += data.length;
      settle();
    },
    finish: () => conn.end(),
    fail: () => undefined,
    writable: settle,
  };
  conn.attach(sink);
}
