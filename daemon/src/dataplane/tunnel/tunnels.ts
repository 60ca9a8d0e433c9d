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
 * Where no direct path comes up within RELAY_AFTER_MS (both NATs endpoint-dependent, UDP blocked),
 * the same exchange also goes through the registry's relay, and the tunnel starts there; it keeps
 * trying for a direct path in the background, less often each time, and moves to it when punching
 * succeeds. A direct path that dies falls back to the relay the same way. The tunnel is the same on
 * either path, so streams see no switch at all (path.ts, docs/relay.md).
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
import { formatEndpoint, sameEndpoint, tier, TIER_GAP_MS, tierOffsets } from "../../net/candidates.ts";
import { looksLikeStun } from "../../net/stun.ts";
import { addressLookup } from "../../net/address-lookup.ts";
import { closeWhenSent } from "../../send-batching.ts";
import { decodePacket, MAX_DATAGRAM, packetParts, PacketVersionError, PROTOCOL, VERSION, type Packet } from "../../wire/packet.ts";
import { HELLO_VERSION, helloVersionOf, parseSealedHeader, PILA, PILS } from "../../wire/tunnel.ts";
import { PilotError } from "../../errors.ts";
import type { DatagramIn } from "../datagrams.ts";
import { Control, isControl, type Outgoing } from "./control.ts";
import { impairedPath, type PathImpairment, type SendFrame } from "./impaired-path.ts";
import { KeyExchange, signedBy } from "./key-exchange.ts";
import { PathMtus } from "./path-mtus.ts";
import { direct, pathEndpoint, RELAY, samePath, type Path, type Relay, type Turn, type UdpPath } from "./path.ts";
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
  /** Where the tunnels tell the owner what needs their attention (a peer on an incompatible release). */
  log?: (line: string) => void;
  /** The registry's relay, for peers no direct path reaches; without one, only direct paths. */
  relay?: Relay;
  /** This node's TURN allocation, when the registry offers TURN: a relayed address peers may reach. */
  turn?: Turn;
  /**
   * Whether a peer may have a TURN permission when it is the one asking (a path request, an
   * exchange it is part of): a co-member or trusted peer, not one allowed only because this node
   * is public, so strangers cannot use up the allocation's permissions. Dials always may.
   */
  turnFor?: (peer: number) => boolean;
  /** Whether this node's UDP seems to reach nothing beyond its LAN (no STUN answer): dials use the relay at once. */
  relayFirst?: () => boolean;
  /** How long path MTU discovery rests after a search before trying for more (path-mtus.ts; tests shorten it). */
  mtuRaiseMs?: number;
}

/**
 * A dial or a fresh exchange with no direct answer this long after it started also goes through the
 * relay: punching through two NATs takes a few round trips (75 ms at the 99th percentile in the NAT
 * lab), so a path that is not up by then is unlikely to come, and waiting longer only delays the
 * first byte.
 */
const RELAY_AFTER_MS = 500;
/** When the initiation goes through the relay, from then on: the relay itself loses nothing, but the peer may drop one it cannot check yet. */
const RELAY_RETRIES_MS = [0, 1000, 2000];
/** Tries for a direct path while a tunnel goes through the relay: after this long, doubling up to MAX_UPGRADE_GAP_MS. */
const UPGRADE_FIRST_MS = 2000;
const MAX_UPGRADE_GAP_MS = 60_000;
/**
 * A tunnel on a direct path follows its peer to the relay once a relayed packet arrives and nothing
 * has come directly for this long: the peer moved because the direct path died for it, and it has
 * most likely died both ways.
 */
const DIRECT_STALE_MS = 2000;
/** See rtoFloorMs. */
const RELAY_RTO_FLOOR_MS = 200;
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
/** A peer on an incompatible release is named in the log at most this often. */
const INCOMPATIBLE_LOG_EVERY_MS = 60_000;
/** Sending into a tunnel that has been silent this long starts a fresh exchange: the peer may have restarted. */
const SILENCE_BEFORE_REKEY_MS = 10_000;
/** Quiet this long while a stream waits on the peer, and a stalled stream refreshes the tunnel. */
const REFRESH_AFTER_MS = 1000;

interface Tunnel {
  peer: number;
  /** The peer's identity key that signed the exchange that set the tunnel up. */
  key: Buffer;
  current: Session;
  /** The session before the last rekey, kept briefly for packets already in flight. */
  previous?: Session;
  path: Path;
  /** When an authenticated packet last came from the peer, or the tunnel was set up. */
  heardAt: number;
  /** The same, for packets that came straight over UDP rather than through the relay. */
  directHeardAt: number;
  /** When we last sent into it. */
  sentAt: number;
  /** When the path last changed: set up, moved between direct and relay, or the peer's packets came from a new endpoint. */
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
  /** When the owner was last told that the peer's packets are of another version (0: never). */
  incompatibleLoggedAt: number;
}

const NOT_QUIET = { count: 0, nextAt: 0 };

/** An exchange we started: the sends waiting for it, and its retransmission and timeout timers. */
interface Opening {
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  timers: ReturnType<typeof setTimeout>[];
  /** Where the initiation goes each round: the peer's candidates, and the path in use when there is one (TURN included). */
  targets: UdpPath[];
  /** Whether the initiation also goes through the relay. */
  viaRelay: boolean;
}

/** Where a frame came from: a UDP sender, or a peer through the relay (the registry vouches for which). */
type Source = RemoteInfo | { relayedFrom: number } | { turnFrom: Endpoint };
const isRelayed = (s: Source): s is { relayedFrom: number } => "relayedFrom" in s;
const pathFrom = (s: Source): Path =>
  isRelayed(s) ? RELAY : "turnFrom" in s ? { kind: "turn", endpoint: s.turnFrom } : direct({ address: s.address, port: s.port });
/** A candidate at a TURN server (a peer's relayed address) is tried after the direct ones, within each round. */
const RELAYED_TIER = 3;

/** A peer with a live tunnel, as `pilotctl peers` shows it. */
export interface PeerPath {
  nodeId: number;
  /** `turn` also for a direct path to the peer's relayed address on the TURN server. */
  path: Path["kind"];
  /** The peer's endpoint on a direct path; null through the relay. */
  endpoint: string | null;
  /** The path's PLPMTU (path-mtus.ts); null through the relay, and before a peer that opened the tunnel has sent on its path. */
  mtu: number | null;
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
  readonly #mtus: PathMtus;
  /** Where sealed frames go out: the socket, or the socket behind a test's bad path. */
  readonly #sendSealed: SendFrame;
  /** When each peer's path request was last answered with probes. */
  readonly #probedAt = new Map<number, number>();
  /** The timers of the probes going out to each peer. */
  readonly #probing = new Map<number, ReturnType<typeof setTimeout>[]>();
  /** Peers whose tunnel goes through the relay: the next try for a direct path, and how many came before. */
  readonly #upgrading = new Map<number, { attempts: number; timer: ReturnType<typeof setTimeout> }>();
  readonly #keepalive: ReturnType<typeof setInterval>;
  readonly stats: TunnelStats = { peers: 0, sent: 0, received: 0, dropped: 0 };
  #closed = false;
  #closing: Promise<void> | undefined;
  /** When a key exchange of another version was last named in the log. */
  #otherHelloLoggedAt = 0;

  constructor(options: TunnelOptions) {
    this.#o = options;
    this.#socket = this.#udp("udp4");
    this.#exchange = new KeyExchange(options.identity, options.me, options.certificate);
    this.#directory = new PeerDirectory(options);
    this.#control = new Control(
      (peer, packet) => this.send(peer, packet),
      (peer, token) => this.#mtus.answered(peer, token),
    );
    this.#mtus = new PathMtus({
      send: (peer, packet) => {
        const tunnel = this.#tunnels.get(peer);
        if (tunnel) this.#transmit(tunnel, this.#packet(peer, packet));
      },
      rttMs: (peer) => this.#tunnels.get(peer)?.rttMs ?? null,
      turnOverhead: () => this.#o.turn?.overheadBytes ?? 0,
      raiseMs: options.mtuRaiseMs,
    });
    const send: SendFrame = (frame, to, peer) => this.#sendFrame(frame, to, peer);
    this.#sendSealed = options.impair ? impairedPath(send, options.impair, () => !this.#closed) : send;
    this.#keepalive = setInterval(() => this.#keepAlive(), (options.keepaliveMs ?? KEEPALIVE_MS) / 5);
    this.#keepalive.unref();
  }

  #udp(type: "udp4" | "udp6"): Socket {
    const socket = createSocket({ type, ipv6Only: type === "udp6", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20, lookup: addressLookup() });
    socket.on("message", (msg, from) => this.#o.turn?.receive(msg, from) || this.#receive(msg, from));
    socket.on("error", () => undefined);
    return socket;
  }

  #sendFrame(frame: Buffer | readonly Buffer[], to: Path, peer: number): void {
    if (to.kind === "relay") {
      this.#o.relay?.send(peer, frame);
      return;
    }
    if (to.kind === "turn") {
      this.#o.turn?.send(to.endpoint, frame);
      return;
    }
    // Endpoints are IP literals, and only IPv6 ones hold a colon: isIPv6's regular expression cost
    // about 1 % of a sending daemon, run for every packet.
    const socket = to.endpoint.address.includes(":") ? this.#socket6 : this.#socket;
    socket?.send(frame, to.endpoint.port, to.endpoint.address);
  }

  /** A frame a peer sent to this node's relayed address on the TURN server (net/turn-relay.ts). */
  receiveViaTurn(from: Endpoint, frame: Buffer): void {
    if (!this.#closed) this.#receive(frame, { turnFrom: from });
  }

  /** A frame from a peer through the registry's relay (net/relay-link.ts). */
  receiveRelayed(peer: number, frame: Buffer): void {
    if (!this.#closed) this.#receive(frame, { relayedFrom: peer });
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

  /** Stops, and closes the sockets once whatever was just sent, such as a stopping daemon's RSTs, has gone. A second call waits for the first. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.#mtus.close();
    for (const peer of [...this.#opening.keys(), ...this.#tunnels.keys(), ...this.#probing.keys()]) this.drop(peer);
    this.#closing = Promise.all([this.#socket, this.#socket6].flatMap((s) => (s ? [closeWhenSent(s)] : []))).then(() => undefined);
    return this.#closing;
  }

  /** Peers with a live tunnel, and the path each takes. */
  peers(): PeerPath[] {
    return [...this.#tunnels].map(([nodeId, t]) => ({
      nodeId,
      path: this.#shownKind(t.path),
      endpoint: pathEndpoint(t.path),
      mtu: this.#mtus.mtu(nodeId),
      rttMs: t.rttMs,
      changedAt: t.changedAt,
      keyAgeMs: Date.now() - t.current.createdAt,
    }));
  }

  /** Whether a key exchange with the peer is under way. */
  opening(peer: number): boolean {
    return this.#opening.has(peer);
  }

  /** Tears down everything we have with a peer, at once. */
  drop(peer: number): void {
    this.#tunnels.delete(peer);
    this.#mtus.forget(peer);
    this.#probedAt.delete(peer);
    this.#probing.get(peer)?.forEach(clearTimeout);
    this.#probing.delete(peer);
    clearTimeout(this.#upgrading.get(peer)?.timer);
    this.#upgrading.delete(peer);
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
   * This node moved to a new identity key: exchanges are signed with it from now on, and every
   * tunnel, set up with the old one, is dropped. The next packet to each peer makes a fresh exchange,
   * which the peer checks against the new key; streams carry on over it.
   */
  rekey(identity: Identity): void {
    this.#exchange.rekey(identity);
    for (const peer of [...this.#opening.keys(), ...this.#tunnels.keys()]) this.drop(peer);
  }

  /**
   * A peer moved to the identity key `key` (the registry said so): a tunnel that its old key set up
   * is dropped, as is what was looked up of the old key, so the next exchange is checked against
   * the new one. A tunnel the new key already set up stays.
   */
  rekeyed(peer: number, key: Buffer): void {
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && !tunnel.key.equals(key)) this.drop(peer);
    else this.#directory.rekeyed(peer, key);
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
   * from directly within the last second (it has a path), nor while we are dialing it ourselves; a
   * peer we hear only through the relay is probed, since a direct path is what it is asking for.
   */
  probe(peer: number, endpoints: readonly Endpoint[]): void {
    const targets = this.#reachable(endpoints).slice(0, MAX_PROBED);
    const now = performance.now();
    if (this.#closed || targets.length === 0 || this.#opening.has(peer) || now - (this.#probedAt.get(peer) ?? -Infinity) < PROBE_SPACING_MS) return;
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && this.#shownKind(tunnel.path) === "direct" && Date.now() - tunnel.directHeardAt < PROBE_SPACING_MS) return;
    this.#probedAt.set(peer, now);
    this.#permit(peer, targets);
    const tierOf = this.#tierOf;
    const timers = inRounds(PROBE_BACK_MS, targets, tierOf, (t) => {
      for (const e of targets) if (tierOf(e) === t && !this.#closed) this.#sendFrame(this.#exchange.probe(peer, Date.now()), direct(e), peer);
    });
    this.#probing.get(peer)?.forEach(clearTimeout);
    this.#probing.set(peer, timers);
    setTimeout(() => this.#probing.get(peer) === timers && this.#probing.delete(peer), PROBE_BACK_MS.at(-1)! + RELAYED_TIER * TIER_GAP_MS + 1).unref();
  }

  /**
   * Sends a datagram to a peer's port, opening a tunnel first if needed. A datagram larger than the
   * path's first hop carries is refused: it would leave in IP fragments (path-mtus.ts).
   */
  async sendDatagram(peer: number, srcPort: number, dstPort: number, payload: Buffer): Promise<void> {
    if (payload.length > MAX_DATAGRAM) throw new PilotError("invalid_argument", `a datagram carries at most ${MAX_DATAGRAM} bytes`, "split the data");
    if (!this.#tunnels.has(peer)) await this.open(peer);
    const limit = this.#mtus.maxDatagram(peer);
    if (payload.length > limit) {
      throw new PilotError(
        "datagram_too_large",
        `a datagram to node ${peer} carries at most ${limit} bytes on its path now, not ${payload.length}`,
        "send smaller datagrams; those that fit the path's mtu (pilotctl peers) arrive whole on every hop",
      );
    }
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
   * Our retransmissions to the peer go unanswered. The path may have stopped carrying packets of its
   * PLPMTU's size (path MTU discovery checks); and if the peer has been quiet for a second while we
   * wait on it, a fresh key exchange starts: if it restarted, it dropped our session and silently
   * ignores everything sealed with it.
   */
  refresh(peer: number): void {
    this.#mtus.lossReported(peer);
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

  /**
   * The largest stream payload that reaches the peer whole in one packet now: it follows the path's
   * PLPMTU, so streams ask for it again as they send (path-mtus.ts).
   */
  mss(peer: number): number {
    return this.#mtus.mss(peer);
  }

  /**
   * The least retransmission timeout streams to the peer should use on its path now: through the
   * relay, TCP's usual 200 ms. The relay's own connections never lose a frame, but its delay grows
   * with load (frames queue behind each other in TCP and in the registry's objects) without any
   * loss to signal it, and a timeout that fires on that delay alone drops the stream's window to
   * one segment: through the lab's relay, a stream moved 0.6 to 2.3 MB/s with the 50 ms floor and
   * over 9 MB/s with this one.
   */
  rtoFloorMs(peer: number): number {
    return this.#tunnels.get(peer)?.path.kind === "relay" ? RELAY_RTO_FLOOR_MS : 0;
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
      if (!info) {
        throw new PilotError("not_found", `node ${peer} cannot be reached`, "it does not exist, is offline, or is private and shares no network or trust with this node");
      }
      const endpoints = this.#reachable(info.endpoints).slice(0, MAX_PROBED);
      this.#permit(peer, endpoints, true);
      if (endpoints.length === 0 && !this.#o.relay?.up) {
        throw new PilotError("no_path", `node ${peer} has no address this node can reach, and the relay connection is down`, "pilotctl info shows relay_status; wait until it is connected again, then retry");
      }
      opening = this.#opening.get(peer) ?? this.#initiate(peer, endpoints.map(direct), this.#o.relay !== undefined);
    }
    // Someone waits now: an exchange started only to try for a direct path may use the relay too.
    if (!opening.viaRelay && this.#o.relay) this.#alsoThroughRelay(peer, opening, RELAY_AFTER_MS);
    if (opening.waiters.length >= QUEUE_LIMIT) throw new PilotError("timeout", `too many packets waiting for the tunnel to node ${peer}`, "slow down and retry");
    await new Promise<void>((resolve, reject) => opening.waiters.push({ resolve, reject }));
  }

  #packet(peer: number, fields: Outgoing): Buffer[] {
    return packetParts({ ...fields, src: { network: 0, node: this.#o.me() }, dst: { network: 0, node: peer } });
  }

  #transmit(tunnel: Tunnel, packet: readonly Buffer[]): void {
    this.stats.sent++;
    tunnel.sentAt = Date.now();
    this.#sendSealed(tunnel.current.seal(packet), tunnel.path, tunnel.peer);
  }

  /**
   * The path's kind as the user sees it: a direct path to a peer's relayed address on the TURN
   * server is TURN (and worth upgrading from) as much as one through our own allocation.
   */
  #shownKind(path: Path): Path["kind"] {
    return path.kind === "direct" && this.#o.turn?.isServer(path.endpoint.address) ? "turn" : path.kind;
  }

  /** When a candidate is tried within a round: by its kind (candidates.ts), a peer's relayed address last. */
  readonly #tierOf = (e: Endpoint): number => (this.#o.turn?.isServer(e.address) ? RELAYED_TIER : tier(e));

  /** Lets the peer's candidates reach our relayed address (its probes may come to it): on our own dial, or for a peer `turnFor` allows. */
  #permit(peer: number, endpoints: readonly Endpoint[], dialing = false): void {
    if (!this.#o.turn || !(dialing || (this.#o.turnFor?.(peer) ?? true))) return;
    for (const e of endpoints) this.#o.turn.permit(e.address);
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

  /** Pings the peer along the tunnel's path for its round trip; `answered` runs once the pong is back. */
  #measure(peer: number, tunnel: Tunnel, answered?: () => void): void {
    void this.#control
      .ping(peer, HANDSHAKE_TIMEOUT_MS, (p, packet) => this.#transmit(tunnel, this.#packet(p, packet)))
      .then((rtt) => {
        tunnel.rttMs = Math.round(rtt * 1000) / 1000;
        answered?.();
      })
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
      const path = tunnel.path;
      const where: UdpPath[] = path.kind === "relay" ? [] : [path];
      const elsewhere = this.#reachable(info?.endpoints ?? []).filter((e) => !where.some((w) => w.kind === "direct" && sameEndpoint(e, w.endpoint)));
      this.#permit(peer, elsewhere);
      this.#initiate(peer, [...elsewhere.slice(0, MAX_PROBED - where.length).map(direct), ...where], this.#o.relay !== undefined);
    })();
  }

  /**
   * While a peer's tunnel goes through the relay or TURN, tries for a better path now and then: a path
   * request has the peer probe us while our initiations go to its candidates, as on first contact.
   * Success moves the tunnel (#install); the relay carries it meanwhile.
   */
  #followPath(tunnel: Tunnel): void {
    const peer = tunnel.peer;
    if (this.#shownKind(tunnel.path) === "direct") {
      clearTimeout(this.#upgrading.get(peer)?.timer);
      this.#upgrading.delete(peer);
    } else if (!this.#upgrading.has(peer)) {
      this.#scheduleUpgrade(peer, 0);
    }
  }

  #scheduleUpgrade(peer: number, attempts: number): void {
    // Jittered, so the two sides of a relayed tunnel seldom try at the same moment.
    const delay = Math.min(UPGRADE_FIRST_MS * 2 ** attempts, MAX_UPGRADE_GAP_MS) * (0.75 + Math.random() / 2);
    const timer = setTimeout(() => this.#upgrade(peer, attempts), delay);
    timer.unref();
    this.#upgrading.set(peer, { attempts, timer });
  }

  #upgrade(peer: number, attempts: number): void {
    const tunnel = this.#tunnels.get(peer);
    if (this.#closed || !tunnel || this.#shownKind(tunnel.path) === "direct") return void this.#upgrading.delete(peer);
    this.#scheduleUpgrade(peer, attempts + 1);
    if (this.#opening.has(peer) || this.#o.relayFirst?.() || Date.now() - tunnel.heardAt >= KEEPALIVE_STOPS_AFTER_MS) return;
    void (async () => {
      // Our own mapping first: a NAT that changed its ways (or a move) shows there, and the path request carries it.
      await this.#o.recheck?.().catch(() => undefined);
      const info = await this.#directory.contact(peer);
      const now = this.#tunnels.get(peer);
      if (this.#closed || this.#opening.has(peer) || !now || this.#shownKind(now.path) === "direct") return;
      // From TURN, only a direct path is better; from the relay, TURN is too.
      const better = this.#reachable(info?.endpoints ?? []).filter((e) => now.path.kind === "relay" || !this.#o.turn?.isServer(e.address));
      const endpoints = better.slice(0, MAX_PROBED);
      this.#permit(peer, endpoints);
      if (endpoints.length > 0) this.#initiate(peer, endpoints.map(direct), false);
    })();
  }

  /**
   * Starts an exchange, probing every candidate: each round goes to IPv6 candidates first, LAN
   * ones TIER_GAP_MS later and the public mapping after that, each initiation signed afresh (the
   * peer takes a repeated one for a replay). With `viaRelay`, the initiation also goes through the
   * relay RELAY_AFTER_MS later (at once for a peer with no candidates, or from a node whose UDP
   * seems blocked). The exchange fails with no_path if nothing answers.
   */
  #initiate(peer: number, targets: UdpPath[], viaRelay: boolean): Opening {
    this.#exchange.start(peer);
    const opening: Opening = { waiters: [], timers: [], targets, viaRelay: false };
    this.#opening.set(peer, opening);
    const tierOf = (p: UdpPath) => this.#tierOf(p.endpoint);
    opening.timers.push(...inRounds(PROBE_RETRIES_MS, targets, tierOf, (t) => this.#sendProbes(peer, opening, t)));
    if (viaRelay) this.#alsoThroughRelay(peer, opening, targets.length === 0 || this.#o.relayFirst?.() ? 0 : RELAY_AFTER_MS);
    opening.timers.push(
      setTimeout(() => {
        if (this.#opening.get(peer) !== opening) return;
        this.#opening.delete(peer);
        this.#exchange.abandon(peer);
        const tried = opening.targets.map((p) => formatEndpoint(p.endpoint)).join(", ") || "none";
        const relay = !opening.viaRelay ? "" : this.#o.relay?.up ? ", nor did it answer through the relay" : ", and the relay connection is down";
        for (const w of opening.waiters) {
          w.reject(
            new PilotError(
              "no_path",
              `no path to node ${peer}: none of its candidates (${tried}) answered${relay}`,
              "it may be offline or may not accept this node (check trust or shared networks); pilotctl info shows relay_status (the relay reaches peers no direct path does) and each node's nat",
            ),
          );
        }
      }, HANDSHAKE_TIMEOUT_MS),
    );
    return opening;
  }

  #sendProbes(peer: number, opening: Opening, t: number): void {
    if (this.#closed || this.#opening.get(peer) !== opening) return;
    for (const target of opening.targets) {
      if (this.#tierOf(target.endpoint) !== t) continue;
      const initiation = this.#exchange.initiation(peer, Date.now());
      if (!initiation) return;
      this.#sendFrame(initiation, target, peer);
    }
  }

  /** Sends the exchange's initiation through the relay too, `afterMs` from now and again at RELAY_RETRIES_MS. */
  #alsoThroughRelay(peer: number, opening: Opening, afterMs: number): void {
    opening.viaRelay = true;
    for (const delay of RELAY_RETRIES_MS) opening.timers.push(setTimeout(() => this.#sendThroughRelay(peer, opening), afterMs + delay));
  }

  #sendThroughRelay(peer: number, opening: Opening): void {
    if (this.#closed || this.#opening.get(peer) !== opening || !this.#o.relay?.up) return;
    const initiation = this.#exchange.initiation(peer, Date.now());
    if (initiation) this.#sendFrame(initiation, RELAY, peer);
  }

  /** Sets up the tunnel; the side that started the exchange measures the round trip at once, the other from the peer's first packet. */
  #install(peer: number, key: Buffer, session: Session, path: Path, initiated: boolean): void {
    const old = this.#tunnels.get(peer);
    const now = Date.now();
    const moved = !old || !samePath(old.path, path);
    const tunnel: Tunnel = {
      peer,
      key,
      current: session,
      previous: old?.current,
      path,
      heardAt: now,
      directHeardAt: path.kind === "relay" ? (old?.directHeardAt ?? 0) : now,
      sentAt: now,
      changedAt: moved ? now : old.changedAt,
      rttMs: moved ? null : old.rttMs,
      answeredAt: moved && !initiated ? performance.now() : null,
      quiet: NOT_QUIET,
      incompatibleLoggedAt: old?.incompatibleLoggedAt ?? 0,
    };
    this.#tunnels.set(peer, tunnel);
    this.stats.peers = this.#tunnels.size;
    this.#followPath(tunnel);
    // Probes go only along a path the peer has shown it holds: the answer to our initiation came
    // from it; an initiation we answer may not be the peer's at all (a forged source address), so
    // probing waits for its first sealed packet. Otherwise a spoofed 280-byte hello would have us
    // send kilobytes of probes to whatever address it named.
    if (initiated) this.#mtus.follow(peer, path);
    else if (moved) this.#mtus.forget(peer);
    if (moved && initiated) this.#measure(peer, tunnel);
    const opening = this.#opening.get(peer);
    if (!opening) return;
    this.#opening.delete(peer);
    opening.timers.forEach(clearTimeout);
    for (const w of opening.waiters) w.resolve();
  }

  // ── What arrives ──

  #receive(msg: Buffer, from: Source): void {
    // A closing node's sockets drain its last sends (closeWhenSent): what arrives meanwhile is not taken.
    if (this.#closed) return;
    if (msg.length >= 4 && msg.subarray(0, 4).equals(PILS)) return this.#receiveSealed(msg, from);
    if (msg.length >= 4 && msg.subarray(0, 4).equals(PILA)) return void this.#receiveHello(msg, from);
    if (this.#o.onStun && !isRelayed(from) && looksLikeStun(msg)) return this.#o.onStun(msg);
    this.stats.dropped++;
  }

  async #receiveHello(msg: Buffer, from: Source): Promise<void> {
    const hello = this.#exchange.screen(msg, Date.now());
    if (!hello) this.#otherHelloVersion(msg, from);
    // A tunnel we did not ask for is accepted only from a peer we allow, checked before any lookup;
    // through the relay, only from the peer the registry says sent it.
    if (!hello || (isRelayed(from) && from.relayedFrom !== hello.sender) || (hello.role === "initiate" && !this.#o.allowed(hello.sender))) {
      return void this.stats.dropped++;
    }
    // A valid certificate is the registry's word for the sender's key, so the registry is not asked.
    // Who may reach this node is still decided above, by this node's own rules.
    const vouched = hello.certificate && (await this.#o.vouchedKey?.(hello.certificate, hello.sender));
    if (this.#closed) return;
    // A probe, or an initiation that lost to our own exchange: either came along a path that works,
    // so our initiation goes back along it at once.
    if (hello.role === "probe" || (hello.role === "initiate" && this.#exchange.outranks(hello.sender))) {
      const initiation = this.#exchange.triggered(hello, this.#directory.cachedKey(hello.sender) ?? vouched ?? null, Date.now());
      if (initiation) this.#sendFrame(initiation, pathFrom(from), hello.sender);
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
    const path = pathFrom(from);
    if (step.reply) this.#sendFrame(step.reply, path, hello.sender);
    // A step comes only from a hello its key verified.
    if (step.session && key) this.#install(hello.sender, key, step.session, path, hello.role === "respond");
  }

  /**
   * An authenticated packet arrived: the path follows the peer. A packet straight over UDP makes
   * its source the path (the peer roamed, or punching succeeded while we were on the relay); one
   * through the relay moves a direct tunnel there only once the direct path has been silent a while.
   */
  #heard(tunnel: Tunnel, from: Source): void {
    const now = Date.now();
    tunnel.heardAt = now;
    let path: Path | undefined;
    if (!isRelayed(from)) {
      tunnel.directHeardAt = now;
      const kind = "turnFrom" in from ? "turn" : "direct";
      const at = "turnFrom" in from ? from.turnFrom : from;
      const p = tunnel.path;
      if (p.kind !== kind || p.endpoint.address !== at.address || p.endpoint.port !== at.port) path = pathFrom(from);
    } else if (tunnel.path.kind !== "relay" && now - tunnel.directHeardAt > DIRECT_STALE_MS) {
      path = RELAY;
    }
    if (!path) return;
    tunnel.path = path;
    tunnel.changedAt = now;
    tunnel.rttMs = null;
    this.#followPath(tunnel);
    // No probes along the new path before the peer answers there: a sealed packet can come with a
    // forged source address (its sender holds the keys, or replays a captured frame), and probes at
    // the first hop's MTU would then go to whatever address it named, a thousand times the bytes.
    // Until the ping below comes back, segments keep the size every Ethernet path carries.
    this.#mtus.forget(tunnel.peer);
    this.#measure(tunnel.peer, tunnel, () => {
      const now = this.#tunnels.get(tunnel.peer)?.path;
      if (now && samePath(now, path)) this.#mtus.follow(tunnel.peer, path);
    });
  }

  /**
   * The peer proved who it is but sends packets of another version: it runs an incompatible
   * release. Its traffic is dropped, and the owner told why, once a minute at most per peer.
   */
  #incompatible(tunnel: Tunnel, version: number): void {
    const now = Date.now();
    if (now - tunnel.incompatibleLoggedAt < INCOMPATIBLE_LOG_EVERY_MS) return;
    tunnel.incompatibleLoggedAt = now;
    this.#o.log?.(
      `dropped packets of version ${version} from node ${tunnel.peer}: this daemon speaks packet version ${VERSION}, so node ${tunnel.peer} runs an incompatible release; upgrade pilot-daemon on both nodes to the same release`,
    );
  }

  /**
   * A key exchange of another version cannot be checked (its format may differ), but its sender is
   * most likely a node on an incompatible release, whose dial would otherwise time out unexplained.
   * Anyone can send one, so the log says so once a minute at most, whoever sends them.
   */
  #otherHelloVersion(msg: Buffer, from: Source): void {
    const version = helloVersionOf(msg);
    const now = Date.now();
    if (version === null || version === HELLO_VERSION || now - this.#otherHelloLoggedAt < INCOMPATIBLE_LOG_EVERY_MS) return;
    this.#otherHelloLoggedAt = now;
    const source = isRelayed(from) ? `node ${from.relayedFrom} through the relay` : "turnFrom" in from ? `${from.turnFrom.address}:${from.turnFrom.port} through TURN` : `${from.address}:${from.port}`;
    this.#o.log?.(
      `dropped a key exchange of version ${version} from ${source}: this daemon speaks version ${HELLO_VERSION}, so the sender runs an incompatible release; upgrade pilot-daemon on both nodes to the same release`,
    );
  }

  #receiveSealed(msg: Buffer, from: Source): void {
    const header = parseSealedHeader(msg);
    const tunnel = header && this.#tunnels.get(header.sender);
    if (!header || !tunnel || (isRelayed(from) && from.relayedFrom !== header.sender)) return void this.stats.dropped++;
    const session = header.keyId === tunnel.current.keyId ? tunnel.current : header.keyId === tunnel.previous?.keyId ? tunnel.previous : undefined;
    const plain = session?.open(msg, header);
    if (!plain) return void this.stats.dropped++;
    let packet: Packet;
    try {
      packet = decodePacket(plain);
    } catch (e) {
      if (e instanceof PacketVersionError) this.#incompatible(tunnel, e.version);
      return void this.stats.dropped++;
    }
    // The inner source must be the authenticated sender, and the packet must be for us.
    if (packet.src.node !== header.sender || packet.dst.node !== this.#o.me()) return void this.stats.dropped++;
    if (!this.#o.allowed(header.sender) && !this.#control.awaited(packet)) return void this.stats.dropped++;
    this.#heard(tunnel, from);
    tunnel.quiet = NOT_QUIET;
    if (tunnel.answeredAt !== null) {
      tunnel.rttMs = Math.round((performance.now() - tunnel.answeredAt) * 1000) / 1000;
      tunnel.answeredAt = null;
      this.#mtus.follow(tunnel.peer, tunnel.path);
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

/** Timers sending to each tier of candidates in every round: IPv6, then LAN, then the public mapping, TIER_GAP_MS apart. */
function inRounds<T>(roundsMs: readonly number[], targets: readonly T[], tierOf: (t: T) => number, send: (tier: number) => void): ReturnType<typeof setTimeout>[] {
  const tiers = tierOffsets(targets, tierOf);
  return roundsMs.flatMap((delay) => tiers.map(({ tier: t, offsetMs }) => setTimeout(() => send(t), delay + offsetMs)));
}

function bindSocket(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const refused = (e: NodeJS.ErrnoException) => {
      const where = formatEndpoint({ address: host, port });
      if (e.code === "EADDRINUSE") reject(new PilotError("address_in_use", `the UDP address ${where} is in use by another program`, "start with another: pilotctl daemon start --listen HOST:PORT (port 0 takes any free one)"));
      else if (e.code === "EADDRNOTAVAIL") reject(new PilotError("invalid_argument", `${host} is not an address of this machine`, "start with one it has: pilotctl daemon start --listen HOST:PORT (0.0.0.0 takes all of them)"));
      else reject(e);
    };
    socket.once("error", refused);
    socket.bind(port, host, () => {
      socket.off("error", refused);
      resolve();
    });
  });
}
