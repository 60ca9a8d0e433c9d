/**
 * The data plane: one UDP socket, encrypted tunnels to peers, and datagrams through them.
 *
 * A tunnel starts with a signed key exchange (PILA, key-exchange.ts), checked against the peer's
 * identity key: the one its node certificate vouches for, or else the one the registry holds
 * (peer-directory.ts). Packets then travel sealed (PILS).
 * Nothing else is ever sent or accepted. Whatever fails a check — a malformed frame, a bad
 * signature, a replay, a peer that is not allowed — is dropped without a reply of any kind, so a
 * stranger cannot even tell the daemon is there.
 *
 * This class holds the socket and the peer table, tells incoming frames apart, retransmits and
 * times out our exchanges, and starts fresh ones when a session ages or the peer goes quiet.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { Identity } from "../../identity.ts";
import type { Session } from "../../crypto/session.ts";
import { looksLikeStun } from "../../net/stun.ts";
import { decodePacket, HEADER_BYTES, MAX_DATAGRAM, packetParts, PROTOCOL, type Packet } from "../../wire/packet.ts";
import { parseSealedHeader, PILA, PILS, SEALED_HEADER_BYTES, TAG_BYTES } from "../../wire/tunnel.ts";
import { PilotError } from "../../errors.ts";
import type { DatagramIn } from "../datagrams.ts";
import { Control, isControl, type Outgoing } from "./control.ts";
import { impairedPath, type PathImpairment, type SendFrame } from "./impaired-path.ts";
import { KeyExchange, signedBy } from "./key-exchange.ts";
import { PeerDirectory, type Endpoint, type PeerInfo } from "./peer-directory.ts";

export type { PathImpairment } from "./impaired-path.ts";
export type { PeerInfo } from "./peer-directory.ts";

export interface TunnelOptions {
  identity: Identity;
  /** This node's ID, once registered. */
  me: () => number;
  /** Enforcement: whether a peer may open a tunnel to us and have its traffic delivered. */
  allowed: (peer: number) => boolean;
  /** The registry's view of a peer, or null if we may not see it. */
  lookup: (peer: number) => Promise<PeerInfo | null>;
  /** This node's certificate, sent in its hellos, or null while it holds none. */
  certificate?: () => Buffer | null;
  /** The identity key a peer's certificate vouches for, or null if it is not valid for that peer. */
  vouchedKey?: (certificate: Buffer, peer: number) => Promise<Buffer | null>;
  onDatagram: (d: DatagramIn) => void;
  /** Stream packets (protocol 1) from an allowed peer. */
  onStream?: (peer: number, packet: Packet) => void;
  /** STUN answers arriving on the data-plane socket. */
  onStun?: (msg: Buffer) => void;
  /** Sending into a tunnel silent for this long starts a fresh exchange (default 10 s). */
  silenceBeforeRekeyMs?: number;
  /** Test hook: what a bad path does to the sealed frames this node sends. */
  impair?: PathImpairment;
}

const HANDSHAKE_RETRIES_MS = [0, 500, 1000, 2000];
const HANDSHAKE_TIMEOUT_MS = 4000;
const QUEUE_LIMIT = 256;
/** Sending into a tunnel that has been silent this long starts a fresh exchange: the peer may have restarted. */
const SILENCE_BEFORE_REKEY_MS = 10_000;
/** Quiet this long while a stream waits on the peer, and a stalled stream refreshes the tunnel. */
const REFRESH_AFTER_MS = 1000;
/** Loopback carries the largest UDP datagram whole; other paths are assumed to have Ethernet's MTU. */
const LOOPBACK_MTU = 65_535;
const DEFAULT_MTU = 1500;
/** IPv4 and UDP headers, the sealed frame's header and tag, the packet header, and a stream's SACK count. */
const STREAM_OVERHEAD = 20 + 8 + SEALED_HEADER_BYTES + TAG_BYTES + HEADER_BYTES + 1;

interface Tunnel {
  current: Session;
  /** The session before the last rekey, kept briefly for packets already in flight. */
  previous?: Session;
  endpoint: Endpoint;
  /** When an authenticated packet last came from the peer, or the tunnel was set up. */
  heardAt: number;
}

/** An exchange we started: the sends waiting for it, and its retransmission and timeout timers. */
interface Opening {
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  timers: ReturnType<typeof setTimeout>[];
}

export interface TunnelStats {
  peers: number;
  sent: number;
  received: number;
  dropped: number;
}

const closedError = () => new PilotError("not_running", "the data plane is closed", "start the daemon again");
const tornDown = (peer: number) => new PilotError("connection_failed", `the tunnel to node ${peer} was torn down`, "check that you may still reach this node");

export class Tunnels {
  readonly #o: TunnelOptions;
  readonly #socket: Socket;
  readonly #tunnels = new Map<number, Tunnel>();
  readonly #opening = new Map<number, Opening>();
  readonly #exchange: KeyExchange;
  readonly #directory: PeerDirectory;
  readonly #control: Control;
  /** Where sealed frames go out: the socket, or the socket behind a test's bad path. */
  readonly #sendSealed: SendFrame;
  readonly stats: TunnelStats = { peers: 0, sent: 0, received: 0, dropped: 0 };
  #closed = false;

  constructor(options: TunnelOptions) {
    this.#o = options;
    this.#socket = createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    this.#socket.on("message", (msg, from) => this.#receive(msg, from));
    this.#socket.on("error", () => undefined);
    this.#exchange = new KeyExchange(options.identity, options.me, options.certificate);
    this.#directory = new PeerDirectory(options.lookup);
    this.#control = new Control((peer, packet) => this.send(peer, packet));
    const send: SendFrame = (frame, to) => this.#socket.send(frame, to.port, to.address);
    this.#sendSealed = options.impair ? impairedPath(send, options.impair, () => !this.#closed) : send;
  }

  get socket(): Socket {
    return this.#socket;
  }

  async bind(host: string, port: number): Promise<Endpoint> {
    await new Promise<void>((resolve, reject) => {
      this.#socket.once("error", reject);
      this.#socket.bind(port, host, () => {
        this.#socket.off("error", reject);
        resolve();
      });
    });
    const a = this.#socket.address();
    return { address: a.address, port: a.port };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of [...this.#opening.keys(), ...this.#tunnels.keys()]) this.drop(peer);
    // dgram sends wait a tick (an address lookup, even for an IP): what was just sent, such as the
    // RSTs of a stopping daemon, goes out before the socket closes.
    setImmediate(() => this.#socket.close());
  }

  /** Peers with a live tunnel. */
  peers(): { nodeId: number; endpoint: string; keyAgeMs: number }[] {
    return [...this.#tunnels].map(([nodeId, t]) => ({
      nodeId,
      endpoint: `${t.endpoint.address}:${t.endpoint.port}`,
      keyAgeMs: Date.now() - t.current.createdAt,
    }));
  }

  /** Tears down everything we have with a peer, at once. */
  drop(peer: number): void {
    this.#tunnels.delete(peer);
    this.#directory.forget(peer);
    this.#exchange.forget(peer);
    const opening = this.#opening.get(peer);
    if (opening) {
      this.#opening.delete(peer);
      opening.timers.forEach(clearTimeout);
      for (const w of opening.waiters) w.reject(tornDown(peer));
    }
    this.stats.peers = this.#tunnels.size;
  }

  /**
   * The peer was just granted access (a membership or trust): a lookup that found nothing before
   * may find it now, so its key exchanges are answered at once rather than after the negative cache.
   */
  granted(peer: number): void {
    this.#directory.granted(peer);
  }

  /**
   * A peer the registry has just resolved (a name looked up for a command): first contact uses this
   * view instead of asking again. Exchanges the peer starts are still checked with a fresh lookup.
   */
  learn(info: PeerInfo): void {
    this.#directory.learn(info);
  }

  /** Sends a datagram to a peer's port, opening a tunnel first if needed. */
  async sendDatagram(peer: number, srcPort: number, dstPort: number, payload: Buffer): Promise<void> {
    if (payload.length > MAX_DATAGRAM) throw new PilotError("invalid_argument", `a datagram carries at most ${MAX_DATAGRAM} bytes`, "split the data");
    await this.send(peer, { flags: 0, protocol: PROTOCOL.datagram, srcPort, dstPort, seq: 0, ack: 0, window: 0, payload });
  }

  /** Round-trip time to a peer, in milliseconds, over the tunnel (control packet to port 0). */
  ping(peer: number, timeoutMs = 3000): Promise<number> {
    return this.#control.ping(peer, timeoutMs);
  }

  /**
   * Sends a packet to a peer: at once through an open tunnel (returning nothing), or once a tunnel
   * is open (returning the promise of that).
   */
  send(peer: number, fields: Outgoing): void | Promise<void> {
    if (this.#closed) return;
    const packet = this.#packet(peer, fields);
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && !tunnel.current.expired()) {
      const silent = Date.now() - tunnel.heardAt > (this.#o.silenceBeforeRekeyMs ?? SILENCE_BEFORE_REKEY_MS);
      if ((tunnel.current.needsRekey() || silent) && !this.#opening.has(peer)) this.#reexchange(peer, tunnel);
      return this.#transmit(tunnel, packet);
    }
    return this.open(peer).then(() => {
      const open = this.#tunnels.get(peer);
      if (!open) throw tornDown(peer);
      this.#transmit(open, packet);
    });
  }

  /**
   * Starts a fresh key exchange with a peer that has been quiet for a second while we wait on it:
   * if it restarted, it dropped our session and silently ignores everything sealed with it.
   */
  refresh(peer: number): void {
    const tunnel = this.#tunnels.get(peer);
    if (!tunnel || this.#opening.has(peer) || this.#closed || Date.now() - tunnel.heardAt < REFRESH_AFTER_MS) return;
    this.#reexchange(peer, tunnel);
  }

  /** The largest stream payload that reaches the peer in one unfragmented datagram. */
  mss(peer: number): number {
    const endpoint = this.#tunnels.get(peer)?.endpoint;
    const mtu = endpoint?.address.startsWith("127.") ? LOOPBACK_MTU : DEFAULT_MTU;
    return mtu - STREAM_OVERHEAD;
  }

  /** Resolves once a tunnel to the peer is open, starting the key exchange if none is under way. */
  async open(peer: number): Promise<void> {
    if (this.#closed) throw closedError();
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && !tunnel.current.expired()) return;
    let opening = this.#opening.get(peer);
    if (!opening) {
      const info = await this.#directory.contact(peer);
      if (this.#closed) throw closedError();
      const endpoint = info?.endpoints[0];
      if (!info || !endpoint) {
        throw new PilotError("not_found", `node ${peer} cannot be reached`, "it does not exist, is offline, or is private and shares no network or trust with this node");
      }
      opening = this.#opening.get(peer) ?? this.#initiate(peer, endpoint);
    }
    if (opening.waiters.length >= QUEUE_LIMIT) throw new PilotError("timeout", `too many packets waiting for the tunnel to node ${peer}`, "slow down and retry");
    await new Promise<void>((resolve, reject) => opening.waiters.push({ resolve, reject }));
  }

  #packet(peer: number, fields: Outgoing): Buffer[] {
    return packetParts({ ...fields, src: { network: 0, node: this.#o.me() }, dst: { network: 0, node: peer } });
  }

  #transmit(tunnel: Tunnel, packet: readonly Buffer[]): void {
    this.stats.sent++;
    this.#sendSealed(tunnel.current.seal(packet), tunnel.endpoint);
  }

  // ── Our exchanges ──

  /** A fresh exchange over an existing tunnel, to where the registry now says the peer is: a restarted peer may have moved. */
  #reexchange(peer: number, tunnel: Tunnel): void {
    tunnel.heardAt = Date.now();
    void this.#directory.contact(peer).then((info) => {
      if (this.#closed || this.#opening.has(peer) || this.#tunnels.get(peer) !== tunnel) return;
      this.#initiate(peer, info?.endpoints[0] ?? tunnel.endpoint);
    });
  }

  #initiate(peer: number, endpoint: Endpoint): Opening {
    this.#exchange.start(peer);
    const opening: Opening = { waiters: [], timers: [] };
    this.#opening.set(peer, opening);
    for (const delay of HANDSHAKE_RETRIES_MS) {
      opening.timers.push(
        setTimeout(() => {
          const initiation = this.#exchange.initiation(peer, Date.now());
          if (initiation && !this.#closed) this.#socket.send(initiation, endpoint.port, endpoint.address);
        }, delay),
      );
    }
    opening.timers.push(
      setTimeout(() => {
        if (this.#opening.get(peer) !== opening) return;
        this.#opening.delete(peer);
        this.#exchange.abandon(peer);
        for (const w of opening.waiters) w.reject(new PilotError("timeout", `no tunnel to node ${peer}: it did not answer`, "it may be offline, or may not accept this node; check trust or shared networks"));
      }, HANDSHAKE_TIMEOUT_MS),
    );
    return opening;
  }

  #install(peer: number, session: Session, endpoint: Endpoint): void {
    const previous = this.#tunnels.get(peer)?.current;
    this.#tunnels.set(peer, { current: session, previous, endpoint, heardAt: Date.now() });
    this.stats.peers = this.#tunnels.size;
    const opening = this.#opening.get(peer);
    if (!opening) return;
    this.#opening.delete(peer);
    opening.timers.forEach(clearTimeout);
    for (const w of opening.waiters) w.resolve();
  }

  // ── What arrives ──

  #receive(msg: Buffer, from: RemoteInfo): void {
    if (msg.length >= 4 && msg.subarray(0, 4).equals(PILS)) return this.#receiveSealed(msg, from);
    if (msg.length >= 4 && msg.subarray(0, 4).equals(PILA)) return void this.#receiveHello(msg, from);
    if (this.#o.onStun && looksLikeStun(msg)) return this.#o.onStun(msg);
    this.stats.dropped++;
  }

  async #receiveHello(msg: Buffer, from: RemoteInfo): Promise<void> {
    const hello = this.#exchange.screen(msg, Date.now());
    // A tunnel we did not ask for is accepted only from a peer we allow, checked before any lookup.
    if (!hello || (hello.role === "initiate" && !this.#o.allowed(hello.sender))) return void this.stats.dropped++;
    // A valid certificate is the registry's word for the sender's key, so the registry is not asked.
    // Who may reach this node is still decided above, by this node's own rules.
    const vouched = hello.certificate && (await this.#o.vouchedKey?.(hello.certificate, hello.sender));
    const key =
      vouched && signedBy(hello, vouched)
        ? vouched
        : hello.role === "initiate"
          ? ((await this.#directory.initiator(hello.sender, (k) => signedBy(hello, k)))?.publicKey ?? null)
          : await this.#directory.responderKey(hello.sender);
    if (this.#closed) return;
    const step = this.#exchange.consume(hello, key, Date.now());
    if (!step) return void this.stats.dropped++;
    const endpoint = { address: from.address, port: from.port };
    if (step.reply) this.#socket.send(step.reply, endpoint.port, endpoint.address);
    if (step.session) this.#install(hello.sender, step.session, endpoint);
  }

  #receiveSealed(msg: Buffer, from: RemoteInfo): void {
    const header = parseSealedHeader(msg);
    const tunnel = header && this.#tunnels.get(header.sender);
    if (!header || !tunnel) return void this.stats.dropped++;
    const session = header.keyId === tunnel.current.keyId ? tunnel.current : header.keyId === tunnel.previous?.keyId ? tunnel.previous : undefined;
    const plain = session?.open(msg, header);
    if (!plain) return void this.stats.dropped++;
    let packet: Packet;
    try {
      packet = decodePacket(plain);
    } catch {
      return void this.stats.dropped++;
    }
    // The inner source must be the authenticated sender, and the packet must be for us.
    if (packet.src.node !== header.sender || packet.dst.node !== this.#o.me()) return void this.stats.dropped++;
    if (!this.#o.allowed(header.sender) && !this.#control.awaited(packet)) return void this.stats.dropped++;
    tunnel.endpoint = { address: from.address, port: from.port };
    tunnel.heardAt = Date.now();
    this.stats.received++;
    if (packet.protocol === PROTOCOL.stream) {
      this.#o.onStream?.(header.sender, packet);
    } else if (packet.protocol === PROTOCOL.datagram) {
      this.#o.onDatagram({ from: header.sender, srcPort: packet.srcPort, dstPort: packet.dstPort, payload: packet.payload });
    } else if (isControl(packet)) {
      const pong = this.#control.receive(header.sender, packet);
      if (pong) this.#transmit(tunnel, this.#packet(header.sender, pong));
    }
  }
}
