/**
 * The data plane: one UDP socket, encrypted tunnels to peers, and datagrams through them.
 *
 * A tunnel starts with a signed key exchange (PILA): each side sends a fresh X25519 key signed by
 * its Ed25519 identity, and checks the other's signature against the identity key the registry
 * holds for it. Packets then travel sealed (PILS). Nothing else is ever sent or accepted. Whatever
 * fails a check — a malformed frame, a bad signature, a replay, a peer that is not allowed — is
 * dropped without a reply of any kind, so a stranger cannot even tell the daemon is there.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { Identity } from "../../identity.ts";
import { newEphemeral, sharedSecret, verifyEd25519, type Ephemeral } from "../../crypto/keys.ts";
import { deriveKeys, Session } from "../../crypto/session.ts";
import { looksLikeStun } from "../../net/stun.ts";
import { decodePacket, FLAG, HEADER_BYTES, packetParts, PROTOCOL, type Packet, type PacketFields } from "../../wire/packet.ts";
import { helloBody, helloSigningInput, parseHello, parseSealedHeader, PILA, PILS, SEALED_HEADER_BYTES, TAG_BYTES, type Hello, type Role } from "../../wire/tunnel.ts";
import { PilotError } from "../../errors.ts";

/** A peer as the registry describes it: its identity key and where to reach it. */
export interface PeerInfo {
  nodeId: number;
  publicKey: Buffer;
  endpoints: { address: string; port: number }[];
}

export interface DatagramIn {
  from: number;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export interface TunnelOptions {
  identity: Identity;
  /** This node's ID, once registered. */
  me: () => number;
  /** Enforcement: whether a peer may open a tunnel to us and have its traffic delivered. */
  allowed: (peer: number) => boolean;
  /** The registry's view of a peer, or null if we may not see it. */
  lookup: (peer: number) => Promise<PeerInfo | null>;
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

/** Shares (0 to 1) of sealed frames thrown away, held back behind the next one, and sent twice. */
export interface PathImpairment {
  drop: number;
  reorder: number;
  duplicate: number;
}

/** Largest datagram payload: a sealed frame stays within 64 KiB. */
export const MAX_DATAGRAM = 60_000;
const HELLO_MAX_SKEW_MS = 60_000;
const HANDSHAKE_RETRIES_MS = [0, 500, 1000, 2000];
const HANDSHAKE_TIMEOUT_MS = 4000;
const QUEUE_LIMIT = 256;
const KEY_CACHE_MS = 60_000;
/** A lookup that found nothing is not repeated for this long: forged hellos cannot make us hammer the registry. */
const NEGATIVE_CACHE_MS = 10_000;
const MAX_LOOKUPS_IN_FLIGHT = 16;
/**
 * Lookups prompted from outside, per second (with a burst of twice that): a public node accepts
 * exchanges from anyone, so forged ones with random sender IDs would otherwise make it ask the
 * registry as fast as they arrive.
 */
const PROMPTED_LOOKUPS_PER_SECOND = 20;
/** Peers remembered as not found, at most: forged sender IDs cannot grow the daemon's memory. */
const MAX_NOT_FOUND = 4096;
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
  endpoint: { address: string; port: number };
  /** When an authenticated packet last came from the peer, or the tunnel was set up. */
  heardAt: number;
}

interface Pending {
  ephemeral: Ephemeral;
  endpoint: { address: string; port: number };
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

const pingKey = (peer: number, token: Buffer) => `${peer}:${token.toString("hex")}`;

export class Tunnels {
  readonly #o: TunnelOptions;
  readonly #socket: Socket;
  readonly #tunnels = new Map<number, Tunnel>();
  readonly #pending = new Map<number, Pending>();
  /** Newest accepted key-exchange time per peer: an older or equal one is a replay. */
  readonly #helloTimes = new Map<number, number>();
  readonly #keys = new Map<number, { key: Buffer; at: number }>();
  /** Lookups under way, shared by everyone waiting for the same peer. */
  readonly #lookups = new Map<number, Promise<PeerInfo | null>>();
  readonly #notFound = new Map<number, number>();
  /** Lookups prompted from outside that may start now: refilled at PROMPTED_LOOKUPS_PER_SECOND. */
  #lookupBudget = { tokens: 2 * PROMPTED_LOOKUPS_PER_SECOND, at: performance.now() };
  /** The response we sent to each peer's latest initiation, sent again when it retransmits. */
  readonly #answered = new Map<number, { initiator: Buffer; reply: Buffer }>();
  /** Pings waiting for their pong, by peer and token. */
  readonly #pings = new Map<string, () => void>();
  readonly stats: TunnelStats = { peers: 0, sent: 0, received: 0, dropped: 0 };
  /** A frame the impaired path holds back (a test hook's reordering). */
  #heldBack: { frame: Buffer[]; to: Tunnel["endpoint"] } | undefined;

  constructor(options: TunnelOptions) {
    this.#o = options;
    this.#socket = createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    this.#socket.on("message", (msg, from) => this.#receive(msg, from));
    this.#socket.on("error", () => undefined);
  }

  get socket(): Socket {
    return this.#socket;
  }

  async bind(host: string, port: number): Promise<{ address: string; port: number }> {
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

  #closed = false;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of [...this.#pending.keys(), ...this.#tunnels.keys()]) this.drop(peer);
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
    this.#keys.delete(peer);
    this.#answered.delete(peer);
    const pending = this.#pending.get(peer);
    if (pending) {
      this.#pending.delete(peer);
      pending.timers.forEach(clearTimeout);
      for (const w of pending.waiters) w.reject(new PilotError("connection_failed", `the tunnel to node ${peer} was torn down`, "check that you may still reach this node"));
    }
    this.stats.peers = this.#tunnels.size;
  }

  /**
   * The peer was just granted access (a membership or trust): a lookup that found nothing before
   * may find it now, so its key exchanges are answered at once rather than after the negative cache.
   */
  granted(peer: number): void {
    this.#notFound.delete(peer);
  }

  /** Sends a datagram to a peer's port, opening a tunnel first if needed. */
  async sendDatagram(peer: number, srcPort: number, dstPort: number, payload: Buffer): Promise<void> {
    if (payload.length > MAX_DATAGRAM) throw new PilotError("invalid_argument", `a datagram carries at most ${MAX_DATAGRAM} bytes`, "split the data");
    await this.send(peer, { flags: 0, protocol: PROTOCOL.datagram, srcPort, dstPort, seq: 0, ack: 0, window: 0, payload });
  }

  /** Round-trip time to a peer, in milliseconds, over the tunnel (control packet to port 0). */
  async ping(peer: number, timeoutMs = 3000): Promise<number> {
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(8)));
    const key = pingKey(peer, token);
    const pong = new Promise<void>((resolve) => this.#pings.set(key, resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const started = performance.now();
      await this.send(peer, { flags: 0, protocol: PROTOCOL.control, srcPort: 0, dstPort: 0, seq: 0, ack: 0, window: 0, payload: token });
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

  /**
   * Sends a packet to a peer: at once through an open tunnel (returning nothing), or once a tunnel
   * is open (returning the promise of that).
   */
  send(peer: number, fields: Omit<PacketFields, "src" | "dst">): void | Promise<void> {
    if (this.#closed) return;
    const packet = packetParts({ ...fields, src: { network: 0, node: this.#o.me() }, dst: { network: 0, node: peer } });
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && !tunnel.current.expired()) {
      const silent = Date.now() - tunnel.heardAt > (this.#o.silenceBeforeRekeyMs ?? SILENCE_BEFORE_REKEY_MS);
      if ((tunnel.current.needsRekey() || silent) && !this.#pending.has(peer)) this.#reexchange(peer, tunnel);
      return this.#transmit(tunnel, packet);
    }
    return this.open(peer).then(() => {
      const open = this.#tunnels.get(peer);
      if (!open) throw new PilotError("connection_failed", `the tunnel to node ${peer} was torn down`, "check that you may still reach this node");
      this.#transmit(open, packet);
    });
  }

  /**
   * Starts a fresh key exchange with a peer that has been quiet for a second while we wait on it:
   * if it restarted, it dropped our session and silently ignores everything sealed with it.
   */
  refresh(peer: number): void {
    const tunnel = this.#tunnels.get(peer);
    if (!tunnel || this.#pending.has(peer) || this.#closed || Date.now() - tunnel.heardAt < REFRESH_AFTER_MS) return;
    this.#reexchange(peer, tunnel);
  }

  /** A fresh exchange over an existing tunnel, to where the registry now says the peer is: a restarted peer may have moved. */
  #reexchange(peer: number, tunnel: Tunnel): void {
    tunnel.heardAt = Date.now();
    void this.#peerInfo(peer).then((info) => {
      if (this.#closed || this.#pending.has(peer) || this.#tunnels.get(peer) !== tunnel) return;
      void this.#initiate(peer, info?.endpoints[0] ?? tunnel.endpoint);
    });
  }

  /** The largest stream payload that reaches the peer in one unfragmented datagram. */
  mss(peer: number): number {
    const endpoint = this.#tunnels.get(peer)?.endpoint;
    const mtu = endpoint?.address.startsWith("127.") ? LOOPBACK_MTU : DEFAULT_MTU;
    return mtu - STREAM_OVERHEAD;
  }

  #transmit(tunnel: Tunnel, packet: readonly Buffer[]): void {
    this.stats.sent++;
    const frame = tunnel.current.seal(packet);
    const to = tunnel.endpoint;
    const path = this.#o.impair;
    if (path) {
      if (Math.random() < path.drop) return;
      if (Math.random() < path.duplicate) this.#socket.send(frame, to.port, to.address);
      if (!this.#heldBack && Math.random() < path.reorder) {
        // Sent after the next frame, or a moment later if none comes: it arrives out of order.
        this.#heldBack = { frame, to };
        setTimeout(() => this.#releaseHeldBack(), 2).unref();
        return;
      }
    }
    this.#socket.send(frame, to.port, to.address);
    this.#releaseHeldBack();
  }

  #releaseHeldBack(): void {
    const held = this.#heldBack;
    this.#heldBack = undefined;
    if (held && !this.#closed) this.#socket.send(held.frame, held.to.port, held.to.address);
  }

  /** Resolves once a tunnel to the peer is open, starting the key exchange if none is under way. */
  async open(peer: number): Promise<void> {
    if (this.#closed) throw closedError();
    const tunnel = this.#tunnels.get(peer);
    if (tunnel && !tunnel.current.expired()) return;
    let pending = this.#pending.get(peer);
    if (!pending) {
      const info = await this.#peerInfo(peer);
      if (this.#closed) throw closedError();
      const endpoint = info?.endpoints[0];
      if (!info || !endpoint) {
        throw new PilotError("not_found", `node ${peer} cannot be reached`, "it does not exist, is offline, or is private and shares no network or trust with this node");
      }
      pending = this.#pending.get(peer) ?? (await this.#initiate(peer, endpoint));
    }
    if (pending.waiters.length >= QUEUE_LIMIT) throw new PilotError("timeout", `too many packets waiting for the tunnel to node ${peer}`, "slow down and retry");
    await new Promise<void>((resolve, reject) => pending.waiters.push({ resolve, reject }));
  }

  async #initiate(peer: number, endpoint: { address: string; port: number }): Promise<Pending> {
    const pending: Pending = { ephemeral: newEphemeral(), endpoint, waiters: [], timers: [] };
    this.#pending.set(peer, pending);
    // Each retransmission is signed afresh (a newer time), or the peer would take it for a replay.
    for (const delay of HANDSHAKE_RETRIES_MS) {
      pending.timers.push(setTimeout(() => !this.#closed && this.#socket.send(this.#hello("initiate", peer, pending.ephemeral), endpoint.port, endpoint.address), delay));
    }
    pending.timers.push(
      setTimeout(() => {
        if (this.#pending.get(peer) !== pending) return;
        this.#pending.delete(peer);
        for (const w of pending.waiters) w.reject(new PilotError("timeout", `no tunnel to node ${peer}: it did not answer`, "it may be offline, or may not accept this node; check trust or shared networks"));
      }, HANDSHAKE_TIMEOUT_MS),
    );
    return pending;
  }

  #hello(role: Role, peer: number, ephemeral: Ephemeral, answers?: Buffer): Buffer {
    const body = helloBody(role, this.#o.me(), peer, Date.now(), ephemeral.publicKey, answers);
    return Buffer.concat([body, Buffer.from(this.#o.identity.sign(helloSigningInput(body)), "base64")]);
  }

  /**
   * The registry's view of a peer, one lookup at a time per peer. Lookups prompted by datagrams
   * from outside (`prompted`) are also capped in number, budgeted, and skip peers recently not
   * found, so forged key exchanges cannot make us hammer the registry; our own sends, and
   * exchanges signed by a key we already know (`verified`), always look.
   */
  #peerInfo(peer: number, why: "own" | "verified" | "prompted" = "own"): Promise<PeerInfo | null> {
    const running = this.#lookups.get(peer);
    if (running) return running;
    if (why === "prompted" && ((this.#notFound.get(peer) ?? 0) > Date.now() || this.#lookups.size >= MAX_LOOKUPS_IN_FLIGHT || !this.#spendLookup())) {
      return Promise.resolve(null);
    }
    const lookup = this.#o
      .lookup(peer)
      .catch(() => null)
      .then((info) => {
        if (info) {
          this.#keys.set(peer, { key: info.publicKey, at: Date.now() });
          this.#notFound.delete(peer);
        } else {
          this.#notFound.delete(peer);
          this.#notFound.set(peer, Date.now() + NEGATIVE_CACHE_MS);
          // The oldest entry goes first (a Map keeps insertion order).
          if (this.#notFound.size > MAX_NOT_FOUND) this.#notFound.delete(this.#notFound.keys().next().value!);
        }
        return info;
      })
      .finally(() => this.#lookups.delete(peer));
    this.#lookups.set(peer, lookup);
    return lookup;
  }

  /** Takes one prompted lookup from the budget, if there is one. */
  #spendLookup(): boolean {
    // A monotonic clock: a wall clock stepped back would leave the budget empty for as long.
    const now = performance.now();
    const budget = this.#lookupBudget;
    budget.tokens = Math.min(2 * PROMPTED_LOOKUPS_PER_SECOND, budget.tokens + ((now - budget.at) / 1000) * PROMPTED_LOOKUPS_PER_SECOND);
    budget.at = now;
    if (budget.tokens < 1) return false;
    budget.tokens--;
    return true;
  }

  async #identityKey(peer: number): Promise<Buffer | null> {
    const cached = this.#keys.get(peer);
    if (cached && Date.now() - cached.at < KEY_CACHE_MS) return cached.key;
    return (await this.#peerInfo(peer, "prompted"))?.publicKey ?? null;
  }

  #receive(msg: Buffer, from: RemoteInfo): void {
    if (msg.length >= 4 && msg.subarray(0, 4).equals(PILS)) return this.#receiveSealed(msg, from);
    if (msg.length >= 4 && msg.subarray(0, 4).equals(PILA)) return void this.#receiveHello(msg, from);
    if (this.#o.onStun && looksLikeStun(msg)) return this.#o.onStun(msg);
    this.stats.dropped++;
  }

  async #receiveHello(msg: Buffer, from: RemoteInfo): Promise<void> {
    const hello = parseHello(msg);
    const me = this.#o.me();
    const now = Date.now();
    if (!hello || hello.receiver !== me || hello.sender === me || Math.abs(now - hello.time) > HELLO_MAX_SKEW_MS) return void this.stats.dropped++;
    if (hello.time <= (this.#helloTimes.get(hello.sender) ?? 0)) return void this.stats.dropped++;
    const ours = this.#pending.get(hello.sender);
    // A tunnel we did not ask for is accepted only from a peer we allow.
    if (hello.role === "initiate" && !this.#o.allowed(hello.sender)) return void this.stats.dropped++;
    if (hello.role === "respond" && !ours) return void this.stats.dropped++;
    const signedBy = (key: Buffer) => verifyEd25519(key, helloSigningInput(hello.signed), hello.signature);
    let key: Buffer | null;
    if (hello.role === "initiate") {
      // A peer's standing is checked anew at every exchange it starts: the registry shows a private
      // peer only to a node that may still reach it, so a grant whose end this node missed is not
      // honoured again. A hello signed by the key already known costs no lookup budget; only
      // strangers and forgers spend it, so they cannot starve known peers.
      const cached = this.#keys.get(hello.sender)?.key;
      key = (await this.#peerInfo(hello.sender, cached && signedBy(cached) ? "verified" : "prompted"))?.publicKey ?? null;
    } else {
      key = await this.#identityKey(hello.sender);
    }
    if (!key || !signedBy(key)) return void this.stats.dropped++;
    if (hello.time <= (this.#helloTimes.get(hello.sender) ?? 0)) return void this.stats.dropped++;
    this.#helloTimes.set(hello.sender, hello.time);
    const endpoint = { address: from.address, port: from.port };
    if (hello.role === "initiate") this.#answer(hello, endpoint, ours);
    else this.#complete(hello, endpoint, ours!);
  }

  /**
   * Answers a peer's exchange; if both started at once, the lower node ID's exchange wins. A
   * retransmitted initiation (same ephemeral key) gets the same response again, not a new session.
   */
  #answer(hello: Hello, endpoint: Tunnel["endpoint"], ours: Pending | undefined): void {
    const me = this.#o.me();
    if (ours && me < hello.sender) return;
    const previous = this.#answered.get(hello.sender);
    if (previous?.initiator.equals(hello.ephemeral)) {
      this.#socket.send(previous.reply, endpoint.port, endpoint.address);
      return;
    }
    const ephemeral = newEphemeral();
    const secret = sharedSecret(ephemeral, hello.ephemeral);
    if (!secret) return void this.stats.dropped++;
    const keys = deriveKeys(secret, { node: hello.sender, ephemeral: hello.ephemeral }, { node: me, ephemeral: ephemeral.publicKey }, "respond");
    const reply = this.#hello("respond", hello.sender, ephemeral, hello.ephemeral);
    this.#answered.set(hello.sender, { initiator: Buffer.from(hello.ephemeral), reply });
    this.#socket.send(reply, endpoint.port, endpoint.address);
    this.#install(hello.sender, new Session(keys, me), endpoint, ours);
  }

  #complete(hello: Hello, endpoint: Tunnel["endpoint"], ours: Pending): void {
    // A late answer to an earlier exchange must not complete this one with the wrong keys.
    if (!hello.answers.equals(ours.ephemeral.publicKey)) return void this.stats.dropped++;
    const me = this.#o.me();
    const secret = sharedSecret(ours.ephemeral, hello.ephemeral);
    if (!secret) return void this.stats.dropped++;
    const keys = deriveKeys(secret, { node: me, ephemeral: ours.ephemeral.publicKey }, { node: hello.sender, ephemeral: hello.ephemeral }, "initiate");
    this.#install(hello.sender, new Session(keys, me), endpoint, ours);
  }

  #install(peer: number, session: Session, endpoint: Tunnel["endpoint"], pending: Pending | undefined): void {
    const previous = this.#tunnels.get(peer)?.current;
    const tunnel: Tunnel = { current: session, previous, endpoint, heardAt: Date.now() };
    this.#tunnels.set(peer, tunnel);
    this.stats.peers = this.#tunnels.size;
    if (!pending) return;
    this.#pending.delete(peer);
    pending.timers.forEach(clearTimeout);
    for (const w of pending.waiters) w.resolve();
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
    if (!this.#o.allowed(header.sender) && !this.#isPingReply(packet)) return void this.stats.dropped++;
    tunnel.endpoint = { address: from.address, port: from.port };
    tunnel.heardAt = Date.now();
    this.stats.received++;
    if (packet.protocol === PROTOCOL.stream) {
      this.#o.onStream?.(header.sender, packet);
    } else if (packet.protocol === PROTOCOL.datagram) {
      this.#o.onDatagram({ from: header.sender, srcPort: packet.srcPort, dstPort: packet.dstPort, payload: packet.payload });
    } else if (packet.protocol === PROTOCOL.control && packet.dstPort === 0) {
      this.#control(header.sender, tunnel, packet);
    }
  }

  /** A pong to a ping we sent: let it through even from a peer we would not accept traffic from. */
  #isPingReply(packet: Packet): boolean {
    return packet.protocol === PROTOCOL.control && (packet.flags & FLAG.ack) !== 0 && this.#pings.has(pingKey(packet.src.node, packet.payload));
  }

  #control(peer: number, tunnel: Tunnel, packet: Packet): void {
    if (packet.flags & FLAG.ack) {
      this.#pings.get(pingKey(peer, packet.payload))?.();
      return;
    }
    const pong = packetParts({ ...packet, flags: FLAG.ack, src: { network: 0, node: this.#o.me() }, dst: { network: 0, node: peer } });
    this.#transmit(tunnel, pong);
  }
}
