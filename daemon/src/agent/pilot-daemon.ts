/**
 * The agent daemon: it registers the node, keeps its session and presence, holds the node's own
 * channel and one channel per network, enforces who may reach the node, and runs the encrypted
 * data plane. Programs and pilotctl talk to it over the local socket (see ipc/server.ts).
 */
import { EventEmitter } from "node:events";
import type { Identity } from "../identity.ts";
import type { LiveChannel } from "../live-channel.ts";
import type { RelayLink } from "../net/relay-link.ts";
import { TurnRelay } from "../net/turn-relay.ts";
import { parseHostPort } from "../net/host-port.ts";
import { candidateList, formatEndpoint, hostCandidates, type Endpoint } from "../net/candidates.ts";
import { PublicEndpoint, stunServers } from "../net/public-endpoint.ts";
import { ALL_DIGITS, HEARTBEAT_INTERVAL_SECONDS, MAX_LAN_ADDRS, MAX_NODE_ID, parseNodeRef, type Joined, type NodeEvent, type PendingCut, type ResolvedNode, type SelfNode, type Verdict } from "@pilot/protocol";
import { isGone, RegistryClient, RegistryError } from "../registry-client.ts";
import { archiveIdentity } from "../store/identity-file.ts";
import { loadConfig, saveConfig, type Config } from "../store/config-file.ts";
import type { HomePaths } from "../store/home.ts";
import { Tunnels, type PathImpairment } from "../dataplane/tunnel/tunnels.ts";
import { peerInfo } from "../dataplane/tunnel/peer-directory.ts";
import { Streams } from "../dataplane/stream/streams.ts";
import { hostBuiltInServices } from "../services/built-in.ts";
import { Datagrams } from "../dataplane/datagrams.ts";
import { PilotError } from "../errors.ts";
import type { Info, WhyReport } from "../local-socket/contract.ts";
import { AccessList } from "./access.ts";
import { NodeCertificates } from "./certificates.ts";
import { KeyRotation } from "./key-rotation.ts";
import { isMembershipEvent, Memberships, type MembershipEvent } from "./memberships.ts";
import { PeerFailures } from "./peer-failures.ts";
import { Receipts } from "./receipts.ts";
import { Trust } from "./trust.ts";
import { diagnose, trustFacts, type WhyFacts } from "./why.ts";
import { countGcs, memoryReport } from "../gc-tuning.ts";
import { sendsInBatches } from "../send-batching.ts";

const CAPABILITIES = ["datagram", "stream"];
/** How long a moved node keeps trying to report its new mapping before the heartbeat takes over. */
const MOVE_REPORT_MS = 30_000;
/** How long probing a quiet peer waits for a report of our new mapping to land. */
const RECHECK_WAIT_MS = 2000;
/** How long `pilotctl why` waits for the registry before it reports it unreachable. */
const WHY_REGISTRY_MS = 5000;

export class PilotDaemon {
  /** This node's identity key: a rotation replaces it (key-rotation.ts). */
  #identity: Identity;
  readonly registry: RegistryClient;
  readonly trust: Trust;
  // Grants made while constructing (trust.json's peers) come before there are tunnels to tell.
  readonly access = new AccessList(
    (peer) => this.tunnels?.granted(peer),
    () => this.#nodeId,
  );
  readonly tunnels: Tunnels;
  /** The registry's relay, for peers no direct path reaches. */
  readonly relay: RelayLink;
  /** This node's TURN allocation, when the registry offers TURN: one more candidate, tried before the relay. */
  readonly #turn: TurnRelay;
  readonly streams: Streams;
  readonly datagrams: Datagrams;
  /** Daemon events for local subscribers: handshakes, memberships, invitations, tunnel teardowns. */
  readonly events = new EventEmitter();
  readonly startedAt = Date.now();
  #config: Config;
  /** The registry this daemon uses: --registry, PILOT_REGISTRY or config.json, in that order (main.ts). */
  readonly #registryUrl: string;
  readonly #paths: HomePaths;
  readonly #log: (line: string) => void;
  #nodeId = 0;
  /** Registry lookups by name under way. */
  readonly #lookups = new Map<string, Promise<ResolvedNode>>();
  #address = "";
  #hostname: string | null = null;
  #lanAddrs: string[] = [];
  #public: PublicEndpoint | undefined;
  /** The endpoint report under way after our public mapping changed: path requests wait for it. */
  #reporting: Promise<void> = Promise.resolve();
  #registryUp = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #nodeChannel: LiveChannel<NodeEvent> | undefined;
  /**
   * Whether the node channel is up and trust was re-read on it, so this node's own view of who may
   * reach it is current. Until then a private node checks peers with a fresh resolve, certificate
   * or not: a trust that ended while the channel was down is refused at once, as it always was.
   */
  #viewCurrent = false;
  readonly memberships: Memberships;
  /** Confirms to the registry, signed, each cut-off a revocation asked of this node. */
  readonly receipts: Receipts;
  readonly certificates: NodeCertificates;
  readonly #rotation: KeyRotation;
  /** Set once the node deregisters: nothing may register it again behind its owner's back. */
  #deregistered = false;
  /** The last failure met with each peer, for `pilotctl why`. */
  readonly failures = new PeerFailures();

  constructor(options: { identity: Identity; config: Config; registry: string; paths: HomePaths; log?: (line: string) => void; impair?: PathImpairment; mtuRaiseMs?: number }) {
    this.#identity = options.identity;
    this.#config = options.config;
    this.#registryUrl = options.registry;
    this.#paths = options.paths;
    this.#log = options.log ?? (() => undefined);
    this.registry = new RegistryClient({ url: options.registry, identity: options.identity });
    this.receipts = new Receipts({
      registry: this.registry,
      nodeId: () => this.#nodeId,
      done: (cut) => this.#cutDone(cut),
      log: this.#log,
    });
    this.trust = new Trust(options.paths.trust, {
      registry: this.registry,
      access: this.access,
      cutOff: (peer, why) => this.#cutOff(peer, why),
      rejudge: (peer, why) => this.#rejudge(peer, why),
      receipts: this.receipts,
    });
    this.access.public = options.config.public;
    this.certificates = new NodeCertificates({
      registry: this.registry,
      registryOrigin: new URL(options.registry).origin,
      keysPath: options.paths.registryKeys,
      publicKey: Buffer.from(options.identity.publicKey, "base64"),
      me: () => this.#nodeId,
      log: this.#log,
    });
    this.relay = this.registry.relayLink({ onFrame: (peer, frame) => this.tunnels.receiveRelayed(peer, frame), log: this.#log });
    this.#turn = new TurnRelay({
      credentials: () => this.registry.turnCredentials(),
      send: (bytes, host, port) => this.tunnels.socket.send(bytes, port, host),
      onData: (from, frame) => this.tunnels.receiveViaTurn(from, frame),
      // Reported at once: peers learn where to reach this node through TURN.
      onChange: () => void this.#beat(),
      log: this.#log,
    });
    this.tunnels = new Tunnels({
      identity: options.identity,
      me: () => this.#nodeId,
      allowed: (peer) => this.access.allows(peer),
      lookup: (peer) => this.registry.resolve(peer).then((node) => peerInfo(node, this.#endpoint), () => null),
      requestPath: (peer) => this.registry.requestPath(peer).then((node) => peerInfo(node, this.#endpoint), () => null),
      recheck: () => this.#recheck(),
      certificate: () => this.certificates.own(),
      vouchedKey: (certificate, peer) => (this.access.public || this.#viewCurrent ? this.certificates.vouchedKey(certificate, peer) : Promise.resolve(null)),
      // A port policy may forbid this port to the peer: dropped without a word, like any refusal.
      onDatagram: (d) => {
        if (this.access.allows(d.from, d.dstPort, "datagram")) this.datagrams.receive(d);
      },
      onStream: (peer, packet) => this.streams.receive(peer, packet),
      onStun: (msg) => this.#public?.receive(msg),
      impair: options.impair,
      log: this.#log,
      relay: this.relay,
      turn: this.#turn,
      turnFor: (peer) => this.access.related(peer),
      relayFirst: () => this.#relayOnly,
      mtuRaiseMs: options.mtuRaiseMs,
    });
    this.streams = new Streams({
      allowed: (peer, port) => this.access.allows(peer, port, "stream"),
      open: (peer) => this.failures.watch(peer, this.tunnels.open(peer)),
      send: (peer, packet) => this.tunnels.send(peer, packet),
      mss: (peer) => this.tunnels.mss(peer),
      refresh: (peer) => this.tunnels.refresh(peer),
      rtoFloorMs: (peer) => this.tunnels.rtoFloorMs(peer),
    });
    hostBuiltInServices(this.streams, options.paths, this.#log);
    this.datagrams = new Datagrams((peer, srcPort, dstPort, payload) => this.failures.watch(peer, this.tunnels.sendDatagram(peer, srcPort, dstPort, payload)));
    this.memberships = new Memberships({
      registry: this.registry,
      access: this.access,
      receipts: this.receipts,
      nodeId: () => this.#nodeId,
      cutOff: (peer, why) => this.#cutOff(peer, why),
      policyChanged: (networkId) => this.#enforcePolicy(networkId),
      untrust: (peer) => this.trust.forget(peer),
      endVouched: (networkId, peer) => this.trust.forgetVouchedBy(networkId, peer),
      rejudge: (peer, why) => this.#rejudge(peer, why),
      emit: (event) => this.events.emit("event", event),
      log: this.#log,
    });
    this.#rotation = new KeyRotation({
      registry: this.registry,
      registryUrl: options.registry,
      paths: options.paths,
      identity: () => this.#identity,
      nodeId: () => this.#nodeId,
      adopt: (next) => this.#adopt(next),
      log: this.#log,
    });
  }

  get identity(): Identity {
    return this.#identity;
  }

  get nodeId(): number {
    return this.#nodeId;
  }

  /** Binds the data plane, learns the public endpoint, registers, and opens the channels. */
  async start(): Promise<void> {
    countGcs();
    const { host, port } = parseHostPort(this.#config.listen, true);
    const bound = await this.tunnels.bind(host, port);
    // The kernel silently caps the 4 MiB asked for; a small buffer drops bursts of 64 KiB segments.
    const buffer = this.tunnels.socket.getRecvBufferSize();
    if (buffer < 4 << 20) this.#log(`the UDP receive buffer is only ${buffer} bytes, which slows streams; raise it with: sysctl -w net.core.rmem_max=4194304`);
    const hosts = hostCandidates(bound.v4, bound.v6Port);
    this.#lanAddrs = hosts.map(formatEndpoint);
    this.#public = new PublicEndpoint({ socket: this.tunnels.socket, servers: stunServers(this.#config.stun), hosts: () => hosts, onChange: (e) => this.#moved(e) });
    if ((await this.#public.refresh()) === null && this.#public.status !== "off") {
      this.#log(`no answer from STUN server ${this.#config.stun}; running on local addresses (port ${bound.v4.port})`);
    }
    this.#public.keepFresh();
    await this.certificates.start();
    await this.#register().catch((e: unknown) => {
      // set-hostname, the usual way out, needs a running daemon: this one will not be.
      if (e instanceof RegistryError && (e.code === "hostname_taken" || e.code === "hostname_reserved")) {
        throw new PilotError(e.code, e.message, "start with another: pilotctl daemon start --hostname <other-name>");
      }
      throw e;
    });
    this.relay.start();
    void this.#turn.start();
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_INTERVAL_SECONDS * 1000);
    this.#heartbeat.unref();
    // Every (re)connection of the node channel re-reads trust and memberships: what changed while
    // it was away is applied before its queued events, which then change nothing.
    this.#nodeChannel = this.registry.nodeChannel({
      onResync: async () => {
        await Promise.all([this.trust.sync(), this.memberships.sync()]);
        this.#viewCurrent = true;
        // Trust that ended while away, and this node's own removals, are confirmed now.
        this.receipts.confirmLater();
      },
      onEvent: (e) => (isMembershipEvent(e) ? this.memberships.onEvent(e) : this.#onNodeEvent(e)),
      onDisconnect: () => {
        this.#viewCurrent = false;
        this.#log("node channel lost; reconnecting");
      },
      onEnd: (why) => {
        this.#viewCurrent = false;
        if (why === "replaced") this.#log("another daemon with this node's identity took over its channel; is the same Pilot home running twice? Stop one of them, then restart this one.");
      },
    });
    await this.memberships.sync();
    this.#log(`node ${this.#nodeId} (${this.#address}) is up; endpoint ${this.#endpoint ?? "unknown"}, NAT ${this.#public.nat}`);
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#public?.stop();
    this.certificates.stop();
    this.#nodeChannel?.close();
    this.memberships.close();
    this.receipts.close();
    this.trust.close();
    // The connections' RSTs first, while the relay and TURN paths some of them take are still up;
    // the relay's last message and the UDP sockets' queues then drain together.
    this.streams.close();
    const relayClosed = this.relay.close();
    this.#turn.stop();
    await Promise.all([this.tunnels.close(), relayClosed]);
  }

  /** STUN is on and has not answered: this node's UDP seems to reach nothing beyond its LAN. */
  get #relayOnly(): boolean {
    return this.#public?.status === "unreachable";
  }

  info(): Info {
    return {
      node_id: this.#nodeId,
      address: this.#address,
      hostname: this.#hostname,
      public: this.access.public,
      public_key: this.identity.publicKey,
      registry: this.#registryUrl,
      registry_status: this.registry.suspension !== null ? "suspended" : this.#registryUp ? "connected" : "unreachable",
      suspension: this.registry.suspension,
      endpoint: this.#endpoint,
      lan_addrs: this.#lanAddrs,
      stun: { server: this.#config.stun, status: this.#public?.status ?? "off" },
      nat: this.#public?.nat ?? "unknown",
      relay_status: this.relay.up ? "connected" : "connecting",
      relay_only: this.#relayOnly,
      turn_addr: this.#turn.relayed && formatEndpoint(this.#turn.relayed),
      uptime_secs: Math.floor((Date.now() - this.startedAt) / 1000),
      peers: this.peers(),
      networks: this.memberships.list(),
      trusted: this.access.trusted().length,
      connections: this.streams.size,
      // Datagrams a program had no room for, and frames the relay connection could not take, count with the packets the data plane dropped.
      packets: { ...this.tunnels.stats, dropped: this.tunnels.stats.dropped + this.datagrams.dropped + this.relay.dropped },
      memory: memoryReport(),
      send_batching: sendsInBatches(),
    };
  }

  /** Peers with a live tunnel: the path to each, where it ends, its MTU, its round trip, and when it last changed. */
  peers(): Info["peers"] {
    return this.tunnels.peers().map((p) => ({
      node_id: p.nodeId,
      path: p.path,
      endpoint: p.endpoint,
      mtu: p.mtu,
      rtt_ms: p.rttMs,
      path_changed_at: new Date(p.changedAt).toISOString(),
      key_age_secs: Math.floor(p.keyAgeMs / 1000),
    }));
  }

  /** Sets the hostname (null clears it), at the registry and in config.json. */
  async setHostname(hostname: string | null): Promise<SelfNode> {
    const self = await this.registry.update({ hostname });
    this.#remember({ hostname: self.hostname });
    return self;
  }

  /** Makes the node public or private, at the registry and in config.json. */
  async setVisibility(isPublic: boolean): Promise<SelfNode> {
    const self = await this.registry.update({ public: isPublic });
    this.#remember({ public: self.public });
    return self;
  }

  /**
   * Keeps a setting changed at run time in config.json, so the next start does not undo it. Only
   * that setting: the file is read afresh, since `pilotctl config --set` may have changed others
   * for the next start meanwhile.
   */
  #remember(changes: Partial<Pick<Config, "hostname" | "public">>): void {
    this.#config = { ...this.#config, ...changes };
    saveConfig(this.#paths.config, { ...loadConfig(this.#paths.config), ...changes });
    if (changes.hostname !== undefined) this.#hostname = changes.hostname;
    if (changes.public !== undefined) {
      this.access.public = changes.public;
      // Going private ends what only being public allowed.
      for (const p of this.tunnels.peers()) {
        if (this.access.allows(p.nodeId)) this.#rejudge(p.nodeId, "this node went private");
        else this.#cutOff(p.nodeId, "this node went private");
      }
    }
  }

  // ── Registry session ──

  async #register(): Promise<void> {
    // Never with a key the registry may no longer hold for this node: that would make a new node.
    await this.#rotation.settle();
    const reply = await this.registry.register(this.#config.enroll);
    if (this.#nodeId !== 0 && this.#nodeId !== reply.node.node_id) {
      // The registry forgot us and gave us a new ID: every tunnel was keyed to the old one.
      for (const p of this.tunnels.peers()) this.#cutOff(p.nodeId, "this node was registered again under a new ID");
    }
    this.#nodeId = reply.node.node_id;
    this.#address = reply.node.address;
    const wanted = { hostname: this.#config.hostname ?? undefined, public: this.#config.public };
    const self =
      (wanted.hostname !== undefined && wanted.hostname !== reply.node.hostname) || wanted.public !== reply.node.public
        ? await this.registry.update(wanted)
        : reply.node;
    this.#hostname = self.hostname;
    await this.registry.heartbeat(this.#report());
    this.#registryUp = true;
    // Peers take this node's key from its certificate: a node registered again needs a new one.
    await this.certificates.renew();
  }

  /** What the heartbeat reports: the public mapping, and the other candidates, the TURN relayed address first (never cut off). */
  #report() {
    const relayed = this.#turn.relayed;
    const candidates = relayed ? [formatEndpoint(relayed), ...this.#lanAddrs] : this.#lanAddrs;
    return { endpoint: this.#endpoint, lan_addrs: candidates.slice(0, MAX_LAN_ADDRS), capabilities: CAPABILITIES };
  }

  /** Sends the endpoint report; whether the registry took it. */
  async #beat(): Promise<boolean> {
    try {
      await this.registry.heartbeat(this.#report());
      this.#registryUp = true;
      return true;
    } catch (e) {
      this.#registryUp = false;
      if (isGone(e) && !this.#deregistered) {
        this.#log("the registry no longer knows this node; registering again");
        await this.#register().catch((err: unknown) => this.#log(`re-registration failed: ${String(err)}`));
      }
      return false;
    }
  }

  get #endpoint(): string | null {
    const e = this.#public?.endpoint;
    return e ? formatEndpoint(e) : null;
  }

  // ── Paths ──

  /**
   * Our public mapping changed (roaming): report it at once, then probe every peer again with a
   * path request, which carries the new mapping to the peer so that it probes back.
   */
  #moved(endpoint: Endpoint): void {
    this.#log(`public endpoint is now ${formatEndpoint(endpoint)}; telling the registry and probing peers again`);
    // The move has likely broken the channels' connections without either end knowing.
    this.#nodeChannel?.checkAlive();
    this.memberships.checkAlive();
    this.relay.checkAlive();
    const move = (this.#reporting = this.#reportMove(endpoint));
    void move.then(() => this.#reporting === move && this.tunnels.reprobe());
  }

  /**
   * Reports a new mapping until the registry has it (peers probe what it says), 0.25 s apart and
   * doubling to 4 s, for at most MOVE_REPORT_MS; the heartbeat carries on after that. The first
   * tries often fail: the move broke the connections the registry client had open.
   */
  async #reportMove(endpoint: Endpoint): Promise<void> {
    const started = performance.now();
    for (let delay = 250; performance.now() - started < MOVE_REPORT_MS; delay = Math.min(delay * 2, 4000)) {
      const current = this.#public?.endpoint;
      if (!current || formatEndpoint(current) !== formatEndpoint(endpoint) || (await this.#beat())) return;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Before probing a quiet peer: ask STUN again (at most once a second) and wait a little for any report it causes. */
  async #recheck(): Promise<void> {
    await this.#public?.refresh(1000);
    // Not for long: with the registry down, probing where the peer was may still work.
    await Promise.race([this.#reporting, new Promise((r) => setTimeout(r, RECHECK_WAIT_MS).unref())]);
  }

  /** A peer wants a path (the registry checked it may see us): probe its candidates if we accept it. */
  #pathWanted(e: Extract<NodeEvent, { type: "path_wanted" }>): void {
    if (this.access.allows(e.node_id)) this.tunnels.probe(e.node_id, candidateList(e.endpoint, e.lan_addrs, this.#endpoint));
  }

  // ── Identity ──

  /**
   * Moves this node to a new identity key. It keeps its node ID, address, hostname, networks and
   * trust; the registry tells the nodes related to it, and every tunnel is set up afresh. A node ID,
   * if given, must be this node's.
   */
  async rotateKey(nodeId?: number): Promise<{ node_id: number; address: string; public_key: string; rotated_at: string }> {
    if (nodeId !== undefined && nodeId !== this.#nodeId) {
      throw new PilotError("invalid_argument", `this daemon is node ${this.#nodeId}, not node ${nodeId}`, "check PILOT_HOME: a node can only rotate its own key, in its own daemon");
    }
    const { node, rotatedAt } = await this.#rotation.rotate();
    return { node_id: node.node_id, address: node.address, public_key: node.public_key, rotated_at: rotatedAt };
  }

  /** The registry holds `next` for this node now, and identity.json is it: every part moves to it. */
  #adopt(next: Identity): void {
    this.#identity = next;
    this.tunnels.rekey(next);
    void this.certificates.rekey(Buffer.from(next.publicKey, "base64"));
    // Presence is kept per token epoch, which the rotation bumped: report in at once.
    void this.#beat();
  }

  /** A related node moved to a new key: its old key's certificates and tunnels are refused from now on. */
  #peerRekeyed(e: Extract<NodeEvent, { type: "key_rotated" }>): void {
    this.certificates.rotated(e.node_id, Buffer.from(e.public_key, "base64"), Date.parse(e.rotated_at));
    this.tunnels.rekeyed(e.node_id, Buffer.from(e.public_key, "base64"));
    this.#log(`node ${e.node_id} moved to a new identity key`);
  }

  /**
   * Deregisters the node: the registry ends its memberships and trust and revokes its tokens, so its
   * peers cut it off. Nothing registers it again: identity.json is set aside (a later start makes a
   * new node; moving the file back brings this one back, without its trust and networks), and the
   * trust it kept locally is emptied, since the registry removed every pair.
   */
  async deregister(): Promise<{ node_id: number; deregistered: true; identity_archived: string }> {
    this.#deregistered = true;
    try {
      await this.#rotation.settle();
      await this.registry.deregister();
    } catch (e) {
      this.#deregistered = false;
      throw e;
    }
    this.trust.clear();
    const archived = archiveIdentity(this.#paths, this.#nodeId);
    this.#log(`node ${this.#nodeId} deregistered; its identity key was set aside in ${archived}`);
    return { node_id: this.#nodeId, deregistered: true, identity_archived: archived };
  }

  // ── Trust ──

  /** The node channel's events about trust and keys: local subscribers hear them, and trust applies them. */
  #onNodeEvent(e: Exclude<NodeEvent, MembershipEvent>): void {
    if (e.type === "hello") return;
    if (e.type === "path_wanted") return this.#pathWanted(e);
    this.events.emit("event", { ...e, seq: undefined });
    if (e.type === "key_rotated") return this.#peerRekeyed(e);
    this.trust.onEvent(e);
  }

  // ── Networks ──

  /** Joins a network by ID and token, or by join URL; its members may reach this node once its channel is in sync. */
  async joinNetwork(network: number | string, token?: string): Promise<Joined> {
    const joined = await this.registry.joinNetwork(network, token);
    await this.memberships.sync();
    return joined;
  }

  async acceptInvitation(networkId: number): Promise<Joined> {
    const joined = await this.registry.acceptInvitation(networkId);
    await this.memberships.sync();
    return joined;
  }

  /** Leaves a network; its members lose access before this returns. */
  async leaveNetwork(networkId: number): Promise<void> {
    await this.registry.leaveNetwork(networkId);
    await this.memberships.sync();
  }

  /** Access to a still related peer narrowed: its connections to ports nothing allows it any more are reset. */
  #rejudge(peer: number, why: string): void {
    const closed = this.streams.resetUnallowed(
      (conn) => new PilotError("peer_cut_off", `node ${peer} may no longer open port ${conn.localPort}: ${why}`, "pilotctl why shows what still lets it in"),
      peer,
    );
    if (closed > 0) this.#log(`node ${peer}: ${why}; closed ${closed} connection(s) nothing allows any more`);
  }

  /** A network's port policy changed: connections peers opened that no network allows any more are reset. */
  #enforcePolicy(networkId: number): void {
    const closed = this.streams.resetUnallowed(
      (conn) =>
        new PilotError(
          "peer_cut_off",
          `node ${conn.peer} may no longer open port ${conn.localPort}: network ${networkId}'s port policy changed`,
          "the network's owner decides which tags reach which ports (pilotctl why shows the rule)",
        ),
    );
    if (closed > 0) this.#log(`network ${networkId}'s port policy changed: closed ${closed} connection(s) it no longer allows`);
  }

  /** Whether this node has done what a revocation asked of it, so its receipt may be sent. */
  #cutDone(cut: PendingCut): boolean {
    switch (cut.kind) {
      case "untrust":
        return !this.access.trusted().includes(cut.peer);
      case "policy":
        return cut.network_id !== null && cut.revision !== undefined && this.memberships.policyDone(cut.network_id, cut.revision);
      default:
        return cut.network_id !== null && this.memberships.cutDone({ ...cut, network_id: cut.network_id });
    }
  }

  #cutOff(peer: number, why: string): void {
    this.streams.dropPeer(peer, new PilotError("peer_cut_off", `node ${peer} was cut off: ${why}`, "it may no longer reach this node, nor this node it; a new handshake or membership restores access"));
    this.tunnels.drop(peer);
    this.events.emit("event", { type: "peer_cut_off", node_id: peer, reason: why });
    this.failures.note(peer, "peer_cut_off", `cut off: ${why}`);
    this.#log(`cut off node ${peer}: ${why}`);
  }

  // ── Names ──

  /**
   * A node named by node ID, Pilot address or hostname, resolved through the registry. The tunnel
   * layer is handed the answer, so contacting the node next does not resolve it again.
   */
  async resolveName(name: string): Promise<ResolvedNode> {
    if (!parseNodeRef(name)) throw new PilotError("invalid_argument", `"${name}" is not a node ID, Pilot address or hostname`, "use e.g. 1001, 0:0000.0000.03E9 or my-agent");
    // Requests that ask at once share one lookup; its answer is not kept after it settles, so a
    // change of visibility or trust shows in the next one.
    let lookup = this.#lookups.get(name);
    if (!lookup) {
      lookup = this.#lookUp(name).finally(() => this.#lookups.delete(name));
      this.#lookups.set(name, lookup);
    }
    return lookup;
  }

  async #lookUp(name: string): Promise<ResolvedNode> {
    try {
      const node = await this.registry.resolve(name);
      this.tunnels.learn(peerInfo(node, this.#endpoint));
      return node;
    } catch (e) {
      if (e instanceof RegistryError && e.code === "not_found") {
        throw new PilotError("not_found", `no node "${name}" is visible to this node`, "it does not exist, or it is private and shares no network or trust with this node; try pilotctl handshake");
      }
      throw e;
    }
  }

  /**
   * A node as this node may see it (the registry's privacy gate: a node it may not see and a node
   * that does not exist are the same `not_found`), with the networks this node knows it shares with it.
   */
  async lookup(target: string): Promise<{ node: ResolvedNode; networks: number[] }> {
    const node = await this.resolveName(target);
    return { node, networks: this.access.networksOf(node.node_id) };
  }

  /** The node ID a target names, another node's: a node ID as it is, anything else resolved. */
  async nodeIdOf(target: string): Promise<number> {
    const nodeId = ALL_DIGITS.test(target) ? Number(target) : (await this.resolveName(target)).node_id;
    // Checked here, not left to the tunnel layer, which would fail on it only while encoding a packet.
    if (!(nodeId >= 1 && nodeId < MAX_NODE_ID)) throw new PilotError("invalid_argument", `node ID ${target} is outside 1..${MAX_NODE_ID - 1}`, "a node ID is a decimal number from 1 to 4294967294");
    if (nodeId === this.#nodeId) throw new PilotError("invalid_argument", `${target} is this node`, "name another node; this node's own services are reached directly, not through a tunnel");
    return nodeId;
  }

  // ── Data plane ──

  /** `count` round trips to a peer through its tunnel, one after another; each has its time or its failure. */
  async ping(peer: number, count: number): Promise<({ seq: number; rtt_ms: number } | { seq: number; error: string })[]> {
    const results = [];
    for (let seq = 0; seq < count; seq++) {
      try {
        results.push({ seq, rtt_ms: Math.round((await this.tunnels.ping(peer)) * 1000) / 1000 });
      } catch (e) {
        this.failures.note(peer, e instanceof PilotError ? e.code : "internal", e instanceof Error ? e.message : String(e));
        results.push({ seq, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return results;
  }

  // ── Diagnosis ──

  /**
   * What stands between this node and a target (agent/why.ts). The registry is asked one thing, the
   * target's resolve, as any lookup asks it; the target itself is never contacted. What follows a
   * resolve the registry denies is only what this node holds itself, so a node this node may not see
   * reads exactly like one that does not exist.
   */
  async why(target: string, port: number | null): Promise<WhyReport> {
    const ref = parseNodeRef(target);
    if (!ref) throw new PilotError("invalid_argument", `"${target}" is not a node ID, Pilot address or hostname`, "use e.g. 1001, 0:0000.0000.03E9 or my-agent");
    const typed = ref.kind === "id" ? ref.node : ref.kind === "address" ? ref.address.node : null;
    if (typed === this.#nodeId) throw new PilotError("invalid_argument", `${target} is this node`, "name another node");
    const { registry, node } = await this.#resolveForWhy(target);
    const nodeId = node?.node_id ?? typed;
    const info = this.info();
    const tunnel = nodeId === null ? undefined : this.tunnels.peers().find((p) => p.nodeId === nodeId);
    const networks = nodeId === null ? [] : this.access.networksOf(nodeId);
    const facts: WhyFacts = {
      target,
      port,
      daemon: { running: true },
      registry,
      nat: { nat: info.nat, endpoint: info.endpoint, lan_addrs: info.lan_addrs, stun: info.stun.status, relay_only: info.relay_only, relay_status: info.relay_status, turn_addr: info.turn_addr },
      node: node && { node_id: node.node_id, address: node.address, hostname: node.hostname, public: node.public, online: node.online, last_seen: node.last_seen },
      path: tunnel
        ? { state: tunnel.path, endpoint: tunnel.endpoint, mtu: tunnel.mtu, rtt_ms: tunnel.rttMs, last_handshake_at: new Date(Date.now() - tunnel.keyAgeMs).toISOString() }
        : nodeId !== null && this.tunnels.opening(nodeId)
          ? { state: "opening", endpoint: null, mtu: null, rtt_ms: null, last_handshake_at: null }
          : { state: "none", endpoint: null, mtu: null, rtt_ms: null, last_handshake_at: null },
      last_error: nodeId === null ? null : this.failures.of(nodeId),
      ...trustFacts(this.trust.records, { typed: target, nodeId, others: node ? [String(node.node_id), node.address, ...(node.hostname ? [node.hostname] : [])] : [] }),
      networks,
      policy:
        port === null || nodeId === null
          ? []
          : // This node is the source, the target the destination: what the target's daemon will judge by each shared network.
            zipVerdicts(this.access.reachVerdicts(nodeId, port, "stream"), this.access.reachVerdicts(nodeId, port, "datagram")),
    };
    return diagnose(facts);
  }

  /** The target's resolve, bounded in time: the node, or null when the registry denies it (or does not answer: then `registry` says so). */
  async #resolveForWhy(target: string): Promise<Pick<WhyFacts, "registry"> & { node: ResolvedNode | null }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RegistryError(0, "unreachable", `no answer within ${WHY_REGISTRY_MS / 1000} s`, "")), WHY_REGISTRY_MS);
    });
    try {
      return { registry: { reachable: true, error: null }, node: await Promise.race([this.registry.resolve(target), late]) };
    } catch (e) {
      if (e instanceof RegistryError && e.code === "not_found") return { registry: { reachable: true, error: null }, node: null };
      const unreachable = e instanceof RegistryError && (e.code === "unreachable" || e.code === "bad_response");
      return { registry: { reachable: !unreachable, error: e instanceof Error ? e.message : String(e) }, node: null };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Each shared network's verdicts for a stream and a datagram to one port (both lists in network order). */
function zipVerdicts(stream: ({ network_id: number } & Verdict)[], datagram: ({ network_id: number } & Verdict)[]): WhyFacts["policy"] {
  return stream.map(({ network_id, ...s }, i) => {
    const { network_id: _, ...d } = datagram[i]!;
    return { network_id, stream: s, datagram: d };
  });
}
