/**
 * Where a tunnel's frames go (docs/relay.md): straight to the peer's UDP endpoint, through this
 * node's TURN allocation to the peer's endpoint (docs/turn.md), or through the registry's relay. A
 * tunnel is keyed by node ID, so its path can change under live connections: relay to direct when
 * punching succeeds, direct to relay when the direct path dies.
 */
import { formatEndpoint, sameEndpoint, type Endpoint } from "../../net/candidates.ts";

export type Path = { kind: "direct" | "turn"; endpoint: Endpoint } | { kind: "relay" };

/** A path over UDP: straight to an endpoint, or through our TURN allocation to it. */
export type UdpPath = Exclude<Path, { kind: "relay" }>;

export const RELAY: Path = { kind: "relay" };

export const direct = (endpoint: Endpoint): UdpPath => ({ kind: "direct", endpoint });

export const samePath = (a: Path, b: Path): boolean =>
  a.kind === "relay" ? b.kind === "relay" : b.kind === a.kind && sameEndpoint(a.endpoint, b.endpoint);

/** The path's far end as `pilotctl peers` shows it: the peer's endpoint, or null through the relay. */
export const pathEndpoint = (p: Path): string | null => (p.kind === "relay" ? null : formatEndpoint(p.endpoint));

/** What the tunnel layer needs of this node's TURN allocation (net/turn-relay.ts). */
export interface Turn {
  /** Bytes TURN adds to a frame on the way, which segments must leave room for (0 without an allocation). */
  readonly overheadBytes: number;
  /** Whether `address` is the TURN server's: a peer's candidate there is that peer's relayed address. */
  isServer(address: string): boolean;
  /** Lets a peer's datagrams in through our relayed address. */
  permit(address: string): void;
  /** Sends a frame to a peer from our relayed address; false when it cannot now. */
  send(peer: Endpoint, frame: Buffer | readonly Buffer[]): boolean;
  /** Takes a datagram from the data plane's socket if it came from the TURN server. */
  receive(msg: Buffer, from: Endpoint): boolean;
}

/** What the tunnel layer needs of the relay (net/relay-link.ts). */
export interface Relay {
  readonly up: boolean;
  /** Sends a frame to a peer, or drops it (false) when the relay cannot take it now. */
  send(peer: number, frame: Buffer | readonly Buffer[]): boolean;
}
