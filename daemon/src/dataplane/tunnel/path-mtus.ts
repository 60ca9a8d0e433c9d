/**
 * Path MTU discovery as the tunnel layer runs it (docs/streams.md#path-mtu): a search
 * (path-mtu.ts) for each tunnel on a UDP path, its timer, its probes (control.ts) sent into the
 * tunnel, and the sizes that follow from its PLPMTU: the largest stream segment, the largest
 * datagram.
 *
 * What a search finds is remembered for the peer and the path's endpoint (within a bound, for a
 * while), so a tunnel that is set up again, or returns to an endpoint, starts from it rather than
 * from the base. Through the registry's relay frames travel over a WebSocket, whose packets are not
 * the tunnel's: nothing is searched, and segments keep Ethernet's size there.
 */
import { isIPv6 } from "node:net";
import { formatEndpoint } from "../../net/candidates.ts";
import { firstHopMtu } from "../../net/first-hop.ts";
import { HEADER_BYTES, MAX_DATAGRAM } from "../../wire/packet.ts";
import { SEALED_HEADER_BYTES, TAG_BYTES } from "../../wire/tunnel.ts";
import { newToken, probe, type Outgoing } from "./control.ts";
import { PathMtu } from "./path-mtu.ts";
import { samePath, type Path, type UdpPath } from "./path.ts";

/** RFC 8899's BASE_PLPMTU: IPv6's minimum MTU, which IPv4 paths carry as well in practice. */
export const BASE_PLPMTU = 1280;
/**
 * RFC 8899's MAX_PROBES, above its default of 3. At 20 % loss each way a probe or its answer is
 * lost 36 % of the time: three in a row failed one confirmation in twenty, and streams ask for one
 * at every retransmission timeout, so a 64 MiB transfer over loopback fell step by step from
 * 65,535 to 1,280 bytes a packet. Counting only rounds whose control got through (path-mtu.ts),
 * five make it one in about 770, for a black hole found in five rounds of at least 250 ms.
 */
export const MAX_PROBES = 5;
/**
 * How many of the latest rounds' probes of a size an answer may still come for. A round lasts three
 * round trips, so an answer later than that is rare, and one twenty rounds late is not waited for.
 */
const LATE_ANSWER_ROUNDS = 20;
/** RFC 8899's PMTU_RAISE_TIMER, its recommended 600 s. */
const RAISE_MS = 600_000;
/** How long a PLPMTU found is remembered for a peer's endpoint, and for how many at most. */
const REMEMBER_MS = 600_000;
const REMEMBERED_LIMIT = 4096;
/**
 * A probe counts as lost after three round trips, at least this long (the peer answers at once, but
 * a busy path queues), or after a second before the first round trip is measured. A late answer
 * still counts.
 */
const MIN_PROBE_TIMEOUT_MS = 250;
const UNMEASURED_PROBE_TIMEOUT_MS = 1000;
/** The first hop's MTU is read again at most this often (on losses, and when a search starts). */
const FIRST_HOP_RECHECK_MS = 1000;
const UDP_HEADER_BYTES = 8;
/** A sealed packet's bytes beyond its payload: the sealed frame's header and tag, and the packet header. */
const SEALED_PACKET_BYTES = SEALED_HEADER_BYTES + TAG_BYTES + HEADER_BYTES;
/** A stream segment's payload starts with the count of its SACK blocks, none in a data segment. */
const SACK_COUNT_BYTES = 1;
/** A stream segment's bytes beyond its data on the wire, short of the IP header: UDP, the sealed packet, the SACK count. */
export const STREAM_OVERHEAD = UDP_HEADER_BYTES + SEALED_PACKET_BYTES + SACK_COUNT_BYTES;
/** The packet size streams use through the relay, where the path's MTU does not apply: Ethernet's. */
const RELAY_MTU = 1500;
const IPV4_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;

export interface PathMtusOptions {
  /** Sends a control packet straight into the peer's open tunnel. */
  send: (peer: number, packet: Outgoing) => void;
  /** The latest round trip measured to the peer, in milliseconds. */
  rttMs: (peer: number) => number | null;
  /** Bytes TURN adds to each frame sent through this node's allocation. */
  turnOverhead: () => number;
  /** How long a complete search rests before the next (RAISE_MS by default). */
  raiseMs?: number;
}

interface Tracked {
  path: UdpPath;
  /** The IP header's bytes on this path: IPv4's or IPv6's. */
  ipHeader: number;
  search: PathMtu;
  /** The probes out, by token (hex), with the search's ID for each. */
  probes: Map<string, number>;
  /** The token (hex) and ID of the latest round's control: only it can be answered usefully. */
  control: { token: string; id: number } | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** When the first hop's MTU was last read (performance.now()). */
  firstHopAt: number;
}

/** A peer's endpoint as the memory keys it. */
const memoryKey = (peer: number, path: UdpPath) => `${peer} ${path.kind} ${formatEndpoint(path.endpoint)}`;

export class PathMtus {
  readonly #o: PathMtusOptions;
  readonly #tracked = new Map<number, Tracked>();
  /** PLPMTUs found, by peer and endpoint, oldest first. */
  readonly #remembered = new Map<string, { mtu: number; at: number }>();

  constructor(options: PathMtusOptions) {
    this.#o = options;
  }

  /** The peer's tunnel is (now) on `path`: a new UDP path starts a search, from what was found there before. */
  follow(peer: number, path: Path): void {
    const t = this.#tracked.get(peer);
    if (t && samePath(t.path, path)) return;
    this.forget(peer);
    if (path.kind === "relay") return;
    const now = performance.now();
    const settings = { base: BASE_PLPMTU, max: firstHopMtu(path.endpoint.address), maxProbes: MAX_PROBES, raiseMs: this.#o.raiseMs ?? RAISE_MS };
    const tracked: Tracked = { path, ipHeader: isIPv6(path.endpoint.address) ? IPV6_HEADER_BYTES : IPV4_HEADER_BYTES, search: new PathMtu(settings, now, this.#recall(peer, path)), probes: new Map(), control: null, timer: undefined, firstHopAt: now };
    this.#tracked.set(peer, tracked);
    this.#step(peer, tracked, () => undefined);
  }

  /** The tunnel is gone, or has left the path: what was found there stays remembered. */
  forget(peer: number): void {
    const t = this.#tracked.get(peer);
    if (!t) return;
    clearTimeout(t.timer);
    this.#tracked.delete(peer);
    this.#remember(peer, t);
  }

  close(): void {
    for (const peer of [...this.#tracked.keys()]) this.forget(peer);
  }

  /** Data to the peer went unanswered (a stream's retransmission timeout): the PLPMTU may no longer get through. */
  lossReported(peer: number): void {
    const t = this.#tracked.get(peer);
    if (t) this.#step(peer, t, () => t.search.lossReported());
  }

  /** The peer answered a probe, or a control. */
  answered(peer: number, token: Buffer): void {
    const t = this.#tracked.get(peer);
    if (!t) return;
    const hex = token.toString("hex");
    const control = t.control?.token === hex ? t.control : null;
    const id = control?.id ?? t.probes.get(hex);
    if (id === undefined) return;
    if (control) t.control = null;
    else t.probes.delete(hex);
    this.#step(peer, t, (now) => t.search.answered(id, now));
    // A probe's answer confirms a size just now: remembered afresh even if it did not change. A
    // control's confirms only a smaller size, perhaps the base while the PLPMTU is in doubt.
    if (!control) this.#remember(peer, t);
  }

  /** The PLPMTU of the peer's path, or null through the relay (and without a tunnel). */
  mtu(peer: number): number | null {
    return this.#tracked.get(peer)?.search.mtu ?? null;
  }

  /** The largest stream payload one packet on the peer's path carries whole. */
  mss(peer: number): number {
    const t = this.#tracked.get(peer);
    if (!t) return RELAY_MTU - IPV4_HEADER_BYTES - STREAM_OVERHEAD;
    // At least a byte: a first hop with an absurdly small MTU (a misconfigured 68) must slow a
    // stream down, not leave it unable to cut a segment at all.
    return Math.max(1, t.search.mtu - this.#packetOverhead(t) - SACK_COUNT_BYTES);
  }

  /**
   * The largest datagram payload the peer's path takes: what leaves the first hop unfragmented.
   * Datagrams between the PLPMTU's size and this one leave whole but may not arrive, as on any
   * path whose MTU shrinks beyond the first hop.
   */
  maxDatagram(peer: number): number {
    const t = this.#tracked.get(peer);
    if (!t) return MAX_DATAGRAM;
    // Datagrams give no sign of loss the way a stream's timeouts do: the first hop is looked at as they go.
    if (performance.now() - t.firstHopAt >= FIRST_HOP_RECHECK_MS) this.#step(peer, t, () => undefined);
    return Math.min(MAX_DATAGRAM, t.search.max - this.#packetOverhead(t));
  }

  /** Bytes on the first hop beyond a packet's payload: IP, UDP, the sealed packet, and TURN's header through this node's allocation. */
  #packetOverhead(t: Tracked): number {
    return t.ipHeader + UDP_HEADER_BYTES + SEALED_PACKET_BYTES + (t.path.kind === "turn" ? this.#o.turnOverhead() : 0);
  }

  /** Runs `change` on the peer's search, then sends the probe due, remembers a new PLPMTU and sets the timer. */
  #step(peer: number, t: Tracked, change: (now: number) => void): void {
    const now = performance.now();
    const before = t.search.mtu;
    if (now - t.firstHopAt >= FIRST_HOP_RECHECK_MS) {
      t.firstHopAt = now;
      t.search.setMax(firstHopMtu(t.path.endpoint.address), now);
    }
    change(now);
    if (t.search.mtu !== before) this.#remember(peer, t);
    const rtt = this.#o.rttMs(peer);
    const round = t.search.nextProbes(now, rtt === null ? UNMEASURED_PROBE_TIMEOUT_MS : Math.max(MIN_PROBE_TIMEOUT_MS, 3 * rtt));
    if (round) {
      const [p, control] = round;
      const [token, controlToken] = [newToken(), newToken()];
      t.probes.set(token.toString("hex"), p.id);
      // Only the probes of the size under test can be answered usefully: the oldest are dropped.
      for (const [key] of t.probes) if (t.probes.size > LATE_ANSWER_ROUNDS) t.probes.delete(key);
      t.control = { token: controlToken.toString("hex"), id: control.id };
      this.#o.send(peer, probe(token, p.size - this.#packetOverhead(t)));
      this.#o.send(peer, probe(controlToken, control.size - this.#packetOverhead(t)));
    }
    clearTimeout(t.timer);
    const at = t.search.nextTimeout();
    t.timer = at === null ? undefined : setTimeout(() => this.#tracked.get(peer) === t && this.#step(peer, t, (time) => t.search.onTimeout(time)), Math.max(0, at - now));
    t.timer?.unref();
  }

  #remember(peer: number, t: Tracked): void {
    const key = memoryKey(peer, t.path);
    this.#remembered.delete(key);
    this.#remembered.set(key, { mtu: t.search.mtu, at: Date.now() });
    for (const [oldest] of this.#remembered) {
      if (this.#remembered.size <= REMEMBERED_LIMIT) break;
      this.#remembered.delete(oldest);
    }
  }

  #recall(peer: number, path: UdpPath): number {
    const key = memoryKey(peer, path);
    const found = this.#remembered.get(key);
    if (found && Date.now() - found.at < REMEMBER_MS) return found.mtu;
    this.#remembered.delete(key);
    return BASE_PLPMTU;
  }
}
