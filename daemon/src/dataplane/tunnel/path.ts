/**
 * Where a tunnel's frames go (docs/relay.md): straight to the peer's UDP endpoint, or through the
 * registry's relay. A tunnel is keyed by node ID, so its path can change under live connections:
 * relay to direct when punching succeeds, direct to relay when the direct path dies.
 */
import { formatEndpoint, sameEndpoint, type Endpoint } from "../../net/candidates.ts";

export type Path = { kind: "direct"; endpoint: Endpoint } | { kind: "relay" };

export const RELAY: Path = { kind: "relay" };

export const direct = (endpoint: Endpoint): Path => ({ kind: "direct", endpoint });

export const samePath = (a: Path, b: Path): boolean =>
  a.kind === "relay" ? b.kind === "relay" : b.kind === "direct" && sameEndpoint(a.endpoint, b.endpoint);

/** The path's far end as `pilotctl peers` shows it: the peer's endpoint, or null through the relay. */
export const pathEndpoint = (p: Path): string | null => (p.kind === "direct" ? formatEndpoint(p.endpoint) : null);

/** What the tunnel layer needs of the relay (net/relay-link.ts). */
export interface Relay {
  readonly up: boolean;
  /** Sends a frame to a peer, or drops it (false) when the relay cannot take it now. */
  send(peer: number, frame: Buffer | readonly Buffer[]): boolean;
}
