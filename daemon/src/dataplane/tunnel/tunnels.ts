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
 * Peers behind NATs are reached by probing: the exchange's initiation goes to every candidate of
 * the peer at once (IPv6 and LAN addresses a moment before the public mapping, so the better path
 * wins), while the registry tells the peer to probe ours (a path request), so both NATs open; the
 * first candidate that completes the signed exchange is the path (docs/nat-traversal.md).
 *
 * This class holds the sockets and the peer table, tells incoming frames apart, retransmits and
 * times out our exchanges, keeps quiet tunnels' NAT mappings alive, and starts fresh exchanges when
 * a session ages or the peer goes quiet. A tunnel is keyed by node ID, not address: when a peer's
 * authenticated packets come from somewhere new, that is where ours go.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Identity } from "../../identity.ts";
import type { Session } from "../../crypto/session.ts";
import { formatEndpoint, sameEndpoint, tier, tierOffsets } from "../../net/candidates.ts";
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
  /** The same, asked as a path request: the registry also tells the peer to probe us back. */
  requestPath: (peer: number) => Promise<PeerInfo | null>;
  /** Asked before probing a peer that went quiet: our own public mapping may have changed (roaming). */
  recheck?: () => Promise<void>;
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
  /** Idle time before a tunnel gets a keepalive (default 25 s); tests shorten it. */
  keepaliveMs?: number;
  /** Test hook: what a bad path does to the sealed frames this node sends. */
  impair?: PathImpairment;
}

/** When an exchange's initiation goes out again to every candidate: often at first, while both NATs open. */
const PROBE_RETRIES_MS = [0, 250, 500, 1000, 1500, 2000, 3000];
const HANDSHAKE_TIMEOUT_MS = 4000;
/** Probing back for a peer's path request: fewer rounds than a dial. */
const PROBE_BACK_MS = [0, 500, 1500];
/**
 * Candidates of a peer probed at most, in the order to try them. They are whatever the peer
 * reported, so this bounds what any node can make us send elsewhere.
 */
const MAX_PROBED = 4;
/**
 * Fresh exchanges with a peer that has gone quiet start at most this often, doubling from
 * REEXCHANGE_GAP_MS to MAX_REEXCHANGE_GAP_MS while nothing authenticated comes from it: a peer
 * that stops answering cannot keep us probing its candidates at the pace of our retransmissions.
 */
const REEXCHANGE_GAP_MS = 1000;
const MAX_REEXCHANGE_GAP_MS = 30_000;
/** A peer's path request is answered with probes at most this often. */
const PROBE_SPACING_MS = 1000;
/** A tunnel we have sent nothing into for this long gets a keepalive: NATs forget idle UDP mappings after 30 s and up. */
const KEEPALIVE_MS = 25_000;
/** A tunnel not heard from for this long gets no more keepalives: the peer or the path is gone. */
const KEEPALIVE_STOPS_AFTER_MS = 120_000;
/** ...and is forgotten after this long, when its session would be refused anyway (crypto/session.ts). */
const FORGET_SILENT_AFTER_MS = 180_000;
const QUEUE_LIMIT = 256;
/** Sending into a tunnel that has been silent this long starts a fresh exchange: the peer may have restarted. */
const SILENCE_BEFORE_REKEY_MS = 10_000;
/** Quiet this long while a stream waits on the peer, and a stalled stream refreshes the tunnel. */
const REFRESH_AFTER_MS = 1000;
/** Loopback carries the largest UDP datagram whole; other paths are assumed to have Ethernet's MTU. */
const LOOPBACK_MTU = 65_535;
const DEFAULT_MTU = 1500;
/** UDP header, the sealed frame's header and tag, the packet header, and a stream's SACK count; the IP header comes on top. */
const STREAM_OVERHEAD = 8 + SEALED_HEADER_BYTES + TAG_BYTES + HEADER_BYTES + 1;

interface Tunnel {
  current: Session;
  /** The session before the last rekey, kept briefly for packets already in flight. */
  previous?: Session;
  endpoint: Endpoint;
  /** When an authenticated packet last came from the peer, or the tunnel was set up. */
  heardAt: number;
  /** When we last sent into it. */
  sentAt: number;
  /** When the path last changed: set up, or the peer's packets came from a new endpoint. */
  changedAt: number;
  /** The latest round trip measured, in milliseconds. */
  rttMs: number | null;
  /**
   * When we answered the exchange that set the tunnel up (performance.now()), until the peer's first
   * packet: the initiator sends once our answer arrives, so the gap is a round trip, measured free.
   */
  answeredAt: number | null;
  /** Fresh exchanges started since the peer was last heard from, and when the next may start. */
  quiet: { count: number; nextAt: number };
}

const NOT_QUIET = { count: 0, nextAt: 0 };

/** An exchange we started: the sends waiting for it, and its retransmission and timeout timers. */
interface Opening {
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  timers: ReturnType<typeof setTimeout>[];
  /** The peer's candidates being probed. */
  endpoints: Endpoint[];
}

/** A peer with a live tunnel, as `pilotctl peers` shows it. */
export interface PeerPath {
  nodeId: number;
  path: "direct";
  endpoint: string;
  rttMs: number | null;
  changedAt: number;
  keyAgeMs: number;
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
  /** Bound beside the IPv4 socket when listening on every address and the host has IPv6. */
  #socket6: Socket | undefined;
  readonly #tunnels = new Map<number, Tunnel>();
  readonly #opening = new Map<number, Opening>();
  readonly #exchange: KeyExchange;
  readonly #directory: PeerDirectory;
  readonly #control: Control;
  /** Where sealed frames go out: the socket, or the socket behind a test's bad path. */
  readonly #sendSealed: SendFrame;
  /** When each peer's path request was last answered with probes. */
  readonly #probedAt = new Map<number, number>();
  /** The timers of the probes going out to each peer. */
  readonly #probing = new Map<number, ReturnType<typeof setTimeout>[]>();
  readonly #keepalive: ReturnType<typeof setInterval>;
  readonly stats: TunnelStats = { peers: 0, sent: 0, received: 0, dropped: 0 };
  #closed = false;

  constructor(options: TunnelOptions) {
    this.#o = options;
    this.#socket = this.#udp("udp4");
    this.#exchange = new KeyExchange(options.identity, options.me, options.certificate);
    this.#directory = new PeerDirectory(options);
    this.#control = new Control((peer, packet) => this.send(peer, packet));
    const send: SendFrame = (frame, to) => this.#sendFrame(frame, to);
    this.#sendSealed = options.impair ? impairedPath(send, options.impair, () => !this.#closed) : send;
    this.#keepalive = setInterval(() => this.#keepAlive(), (options.keepaliveMs ?? KEEPALIVE_MS) / 5);
    this.#keepalive.unref();
  }

  #udp(type: "udp4" | "udp6"): Socket {
    const socket = createSocket({ type, ipv6Only: type === "udp6", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    socket.on("message", (msg, from) => this.#receive(msg, from));
    socket.on("error", () => undefined);
    return socket;
  }

  #sendFrame(frame: Buffer | readonly Buffer[], to: Endpoint): void {
    const socket = isIPv6(to.address) ? this.#socket6 : this.#socket;
    socket?.send(frame as Buffer[], to.port, to.address);
  }

  get socket(): Socket {
    return this.#socket;
  }

  /**
   * Binds the IPv4 socket and, when it listens on every address, an IPv6 one on the same port if it
   * is free (another if not); without IPv6 the node simply has no IPv6 candidates.
   */
  async bind(host: string, port: number): Promise<{ v4: Endpoint; v6Port: number | null }> {
    await bindSocket(this.#socket, host, port);
    const a = this.#socket.address();
    let v6Port: number | null = null;
    if (host === "0.0.0.0") {
      for (const tryPort of [a.port, 0]) {
        const socket = this.#udp("udp6");
        try {
          await bindSocket(socket, "::", tryPort);
          this.#socket6 = socket;
          v6Port = socket.address().port;
          break;
        } catch {
          socket.close();
        }
      }
    }
    return { v4: { address: a.address, port: a.port }, v6Port };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    for (const peer of [...this.#opening.keys(), ...this.#tunnels.keys(), ...this.#probing.keys()]) this.drop(peer);
    // dgram sends wait a tick (an address lookup, even for an IP): what was just sent, such as the
    // RSTs of a stopping daemon, goes out before the socket closes.
    setImmediate(() => {
      this.#socket.close();
      this.#socket6?.close();
    });
  }

  /** Peers with a live tunnel, and the path each takes. */
  peers(): PeerPath[] {
    return [...this.#tunnels].map(([nodeId, t]) => ({
      nodeId,
      path: "direct",
      endpoint: formatEndpoint(t.endpoint),
      rttMs: t.rttMs,
      changedAt: t.changedAt,
      keyAgeMs: Date.now() - t.current.createdAt,
    }));
  }

  /** Tears down everything we have with a peer, at once. */
  drop(peer: number): void {
    this.#tunnels.delete(peer);
    this.#probedAt.delete(peer);
    this.#probing.get(peer)?.forEach(clearTimeout);
    this.#probing.delete(peer);
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

  /**
   * A peer that may reach us wants a path (its path request, relayed by the registry with its
   * candidates): send it signed probes now, so that our NAT opens to it while its initiations are
   * on their way to us. A probe starts no exchange of ours: the peer answers it with its own
   * initiation, sent straight back along the path the probe took. Nothing is sent to a peer heard
   * from within the last second (it has a path), nor while we are dialing it ourselves.
   */
  probe(peer: number, endpoints: readonly Endpoint[]): void {
    const targets = this.#reachable(endpoints).slice(0, MAX_PROBED);
    const now = performance.now();
    if (this.#closed || targets.length === 0 || this.#opening.has(peer) || now - (this.#probedAt.get(peer) ?? -Infinity) < PROBE_SPACING_MS) return;
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && Date.now() - tunnel.heardAt < PROBE_SPACING_MS) return;
    this.#probedAt.set(peer, now);
    const tiers = tierOffsets(targets);
    const timers = PROBE_BACK_MS.flatMap((delay) =>
      tiers.map(({ tier: t, offsetMs }) =>
        setTimeout(() => {
          for (const e of targets) if (tier(e) === t && !this.#closed) this.#sendFrame(this.#exchange.probe(peer, Date.now()), e);
        }, delay + offsetMs),
      ),
    );
    this.#probing.get(peer)?.forEach(clearTimeout);
    this.#probing.set(peer, timers);
    setTimeout(() => this.#probing.get(peer) === timers && this.#probing.delete(peer), PROBE_BACK_MS.at(-1)! + tiers.at(-1)!.offsetMs + 1).unref();
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

  /** Probes every peer again (this node's public mapping changed): each path request tells the peer where we are now. */
  reprobe(): void {
    const now = Date.now();
    for (const [peer, tunnel] of this.#tunnels) {
      // Only peers still answering lately: a move is no reason to chase the long gone.
      if (this.#opening.has(peer) || now - tunnel.heardAt >= KEEPALIVE_STOPS_AFTER_MS) continue;
      // Our move is news: the backoff for a quiet peer starts over.
      tunnel.quiet = NOT_QUIET;
      this.#reexchange(peer, tunnel);
    }
  }

  /** The largest stream payload that reaches the peer in one unfragmented datagram. */
  mss(peer: number): number {
    const endpoint = this.#tunnels.get(peer)?.endpoint;
    const loopback = endpoint?.address.startsWith("127.") || endpoint?.address === "::1";
    const ipHeader = endpoint && isIPv6(endpoint.address) ? 40 : 20;
    return (loopback ? LOOPBACK_MTU : DEFAULT_MTU) - ipHeader - STREAM_OVERHEAD;
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
      const endpoints = info ? this.#reachable(info.endpoints) : [];
      if (endpoints.length === 0) {
        throw new PilotError("not_found", `node ${peer} cannot be reached`, "it does not exist, is offline, or is private and shares no network or trust with this node");
      }
      opening = this.#opening.get(peer) ?? this.#initiate(peer, endpoints.slice(0, MAX_PROBED));
    }
    if (opening.waiters.length >= QUEUE_LIMIT) throw new PilotError("timeout", `too many packets waiting for the tunnel to node ${peer}`, "slow down and retry");
    await new Promise<void>((resolve, reject) => opening.waiters.push({ resolve, reject }));
  }

  #packet(peer: number, fields: Outgoing): Buffer[] {
    return packetParts({ ...fields, src: { network: 0, node: this.#o.me() }, dst: { network: 0, node: peer } });
  }

  #transmit(tunnel: Tunnel, packet: readonly Buffer[]): void {
    this.stats.sent++;
    tunnel.sentAt = Date.now();
    this.#sendSealed(tunnel.current.seal(packet), tunnel.endpoint);
  }

  /** Candidates this node has a socket for. */
  #reachable(endpoints: readonly Endpoint[]): Endpoint[] {
    return endpoints.filter((e) => !isIPv6(e.address) || this.#socket6);
  }

  /**
   * Pings each tunnel we have sent nothing into for KEEPALIVE_MS, straight into the tunnel (a
   * keepalive must not start a fresh exchange): the peer's pong keeps both NATs' mappings open and
   * measures the round trip. Tunnels whose peer stopped answering get none, and are dropped once
   * their session could no longer be used; what is kept per peer is swept with them, so peers that
   * come and go (strangers at a public node) cannot grow it without bound.
   */
  #keepAlive(): void {
    const now = Date.now();
    for (const [peer, tunnel] of this.#tunnels) {
      if (now - tunnel.heardAt >= FORGET_SILENT_AFTER_MS && !this.#opening.has(peer)) this.drop(peer);
      else if (now - tunnel.sentAt >= (this.#o.keepaliveMs ?? KEEPALIVE_MS) && now - tunnel.heardAt < KEEPALIVE_STOPS_AFTER_MS) this.#measure(peer, tunnel);
    }
    const performanceNow = performance.now();
    for (const [peer, at] of this.#probedAt) if (performanceNow - at >= PROBE_SPACING_MS) this.#probedAt.delete(peer);
    this.#exchange.sweep(now);
    this.#directory.sweep((peer) => this.#tunnels.has(peer) || this.#opening.has(peer));
  }

  #measure(peer: number, tunnel: Tunnel): void {
    void this.#control
      .ping(peer, HANDSHAKE_TIMEOUT_MS, (p, packet) => this.#transmit(tunnel, this.#packet(p, packet)))
      .then((rtt) => (tunnel.rttMs = Math.round(rtt * 1000) / 1000))
      .catch(() => undefined);
  }

  // ── Our exchanges ──

  /**
   * A fresh exchange over an existing tunnel, probing where the registry now says the peer is as
   * well as where it was: a restarted peer may have moved, and so may we (hence the recheck first,
   * whose new mapping the path request then carries to the peer).
   */
  #reexchange(peer: number, tunnel: Tunnel): void {
    const now = Date.now();
    if (now < tunnel.quiet.nextAt) return;
    const { count } = tunnel.quiet;
    tunnel.quiet = { count: count + 1, nextAt: now + Math.min(REEXCHANGE_GAP_MS * 2 ** count, MAX_REEXCHANGE_GAP_MS) };
    void (async () => {
      await this.#o.recheck?.().catch(() => undefined);
      const info = await this.#directory.contact(peer);
      if (this.#closed || this.#opening.has(peer) || this.#tunnels.get(peer) !== tunnel) return;
      const elsewhere = this.#reachable(info?.endpoints ?? []).filter((e) => !sameEndpoint(e, tunnel.endpoint));
      this.#initiate(peer, [...elsewhere.slice(0, MAX_PROBED - 1), tunnel.endpoint]);
    })();
  }

  /**
   * Starts an exchange, probing every candidate: each round goes to IPv6 candidates first, LAN
   * ones TIER_GAP_MS later and the public mapping after that, each initiation signed afresh (the
   * peer takes a repeated one for a replay). The exchange fails with no_path if none answers.
   */
  #initiate(peer: number, endpoints: Endpoint[]): Opening {
    this.#exchange.start(peer);
    const opening: Opening = { waiters: [], timers: [], endpoints };
    this.#opening.set(peer, opening);
    const tiers = tierOffsets(endpoints);
    for (const delay of PROBE_RETRIES_MS) {
      for (const { tier: t, offsetMs } of tiers) opening.timers.push(setTimeout(() => this.#sendProbes(peer, opening, t), delay + offsetMs));
    }
    opening.timers.push(
      setTimeout(() => {
        if (this.#opening.get(peer) !== opening) return;
        this.#opening.delete(peer);
        this.#exchange.abandon(peer);
        const tried = opening.endpoints.map(formatEndpoint).join(", ");
        for (const w of opening.waiters) {
          w.reject(
            new PilotError(
              "no_path",
              `no direct path to node ${peer}: none of its candidates (${tried}) answered`,
              "it may be offline or may not accept this node (check trust or shared networks); if both nodes are behind NATs, pilotctl info shows each one's nat, and endpoint-dependent NATs allow no direct path",
            ),
          );
        }
      }, HANDSHAKE_TIMEOUT_MS),
    );
    return opening;
  }

  #sendProbes(peer: number, opening: Opening, t: number): void {
    if (this.#closed || this.#opening.get(peer) !== opening) return;
    for (const endpoint of opening.endpoints) {
      if (tier(endpoint) !== t) continue;
      const initiation = this.#exchange.initiation(peer, Date.now());
      if (!initiation) return;
      this.#sendFrame(initiation, endpoint);
    }
  }

  /** Sets up the tunnel; the side that started the exchange measures the round trip at once, the other from the peer's first packet. */
  #install(peer: number, session: Session, endpoint: Endpoint, initiated: boolean): void {
    const old = this.#tunnels.get(peer);
    const now = Date.now();
    const moved = !old || !sameEndpoint(old.endpoint, endpoint);
    const tunnel: Tunnel = { current: session, previous: old?.current, endpoint, heardAt: now, sentAt: now, changedAt: moved ? now : old.changedAt, rttMs: moved ? null : old.rttMs, answeredAt: moved && !initiated ? performance.now() : null, quiet: NOT_QUIET };
    this.#tunnels.set(peer, tunnel);
    this.stats.peers = this.#tunnels.size;
    if (moved && initiated) this.#measure(peer, tunnel);
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
    // A probe, or an initiation that lost to our own exchange: either came along a path that works,
    // so our initiation goes back along it at once.
    if (hello.role === "probe" || (hello.role === "initiate" && this.#exchange.outranks(hello.sender))) {
      const initiation = this.#exchange.triggered(hello, this.#directory.cachedKey(hello.sender) ?? vouched ?? null, Date.now());
      if (initiation) this.#sendFrame(initiation, { address: from.address, port: from.port });
      return;
    }
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
    if (step.reply) this.#sendFrame(step.reply, endpoint);
    if (step.session) this.#install(hello.sender, step.session, endpoint, hello.role === "respond");
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
    if (tunnel.endpoint.address !== from.address || tunnel.endpoint.port !== from.port) {
      tunnel.endpoint = { address: from.address, port: from.port };
      tunnel.changedAt = Date.now();
    }
    tunnel.heardAt = Date.now();
    tunnel.quiet = NOT_QUIET;
    if (tunnel.answeredAt !== null) {
      tunnel.rttMs = Math.round((performance.now() - tunnel.answeredAt) * 1000) / 1000;
      tunnel.answeredAt = null;
    }
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

function bindSocket(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}
