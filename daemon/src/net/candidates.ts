/**
 * A node's candidates: the endpoints at which peers may reach it. Host candidates are its own
 * interface addresses (private or public IPv4, global IPv6); the public one is the NAT's mapping as
 * a STUN server sees it. Peers probe them all at once (docs/nat-traversal.md); this module says
 * which they prefer when several work, and what the NAT in front of the node does.
 */
import { isIPv4, isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import { isPrivateIPv4, lanCandidatesFor } from "@pilot/protocol";
import { parseHostPort } from "./host-port.ts";

export interface Endpoint {
  address: string;
  port: number;
}

export const formatEndpoint = (e: Endpoint): string => (isIPv6(e.address) ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);

function parseEndpoint(text: string): Endpoint {
  const { host, port } = parseHostPort(text);
  return { address: host, port };
}

export const sameEndpoint = (a: Endpoint, b: Endpoint): boolean => a.address === b.address && a.port === b.port;

/** Global unicast IPv6 (2000::/3: a first group of four digits from 2000 to 3fff): reachable end to end, no NAT in the way. */
export const isGlobalIPv6 = (address: string): boolean => isIPv6(address) && /^[23][0-9a-f]{3}:/i.test(address);

/**
 * The order in which a peer tries candidates, a moment apart (TIER_GAP_MS), so that of several that
 * work the better one wins: IPv6 first (no NAT to cross), then a private LAN address (two nodes
 * behind one NAT talk across the LAN, not out and back in), then the public IPv4 mapping.
 */
export const tier = (e: Endpoint): 0 | 1 | 2 => (isIPv6(e.address) ? 0 : isPrivateIPv4(e.address) ? 1 : 2);
export const TIER_GAP_MS = 50;

/**
 * When within a round each tier present goes out: the first at once, each next TIER_GAP_MS later.
 * A tier with no candidates costs no wait.
 */
export function tierOffsets<T = Endpoint>(targets: readonly T[], tierOf: (t: T) => number = tier as unknown as (t: T) => number): { tier: number; offsetMs: number }[] {
  const present = [...new Set(targets.map(tierOf))].sort((a, b) => a - b);
  return present.map((t, rank) => ({ tier: t, offsetMs: rank * TIER_GAP_MS }));
}

/**
 * A node's candidates as the registry lists them (its public mapping, then its own addresses), each
 * once, in the order to try them. Its private IPv4 addresses count only when this node (whose
 * public mapping is `ours`) sits behind the same public address: elsewhere they name hosts on this
 * node's own LAN. Malformed entries are skipped: they come from another node.
 */
export function candidateList(endpoint: string | null, lanAddrs: readonly string[], ours: string | null): Endpoint[] {
  const list: Endpoint[] = [];
  for (const text of [endpoint, ...lanCandidatesFor(lanAddrs, endpoint, ours)]) {
    if (!text) continue;
    let e: Endpoint;
    try {
      e = parseEndpoint(text);
    } catch {
      continue;
    }
    if (!isIPv4(e.address) && !isGlobalIPv6(e.address)) continue;
    if (!list.some((known) => sameEndpoint(known, e))) list.push(e);
  }
  return list.sort((a, b) => tier(a) - tier(b));
}

/**
 * This node's host candidates: the address the data plane is bound to or, bound to every address,
 * each non-loopback IPv4 address and (when an IPv6 socket is open) each global IPv6 address.
 */
export function hostCandidates(v4: Endpoint, v6Port: number | null): Endpoint[] {
  if (v4.address !== "0.0.0.0") return [v4];
  const found: Endpoint[] = [];
  for (const i of Object.values(networkInterfaces()).flat()) {
    if (!i || i.internal) continue;
    if (i.family === "IPv4") found.push({ address: i.address, port: v4.port });
    else if (v6Port !== null && isGlobalIPv6(i.address)) found.push({ address: i.address, port: v6Port });
  }
  return found;
}

/**
 * What the NAT in front of the node does, from two STUN servers' view of one socket:
 * none (the mapping is one of our own addresses), endpoint-independent (one mapping for every
 * destination: hole punching works), endpoint-dependent (a new mapping per destination, a
 * "symmetric" NAT: peers cannot predict it, so only a relay gets through), or unknown.
 */
export type NatBehaviour = "none" | "endpoint-independent" | "endpoint-dependent" | "unknown";

export function natBehaviour(hosts: readonly Endpoint[], first: Endpoint | null, second: Endpoint | null): NatBehaviour {
  if (!first) return "unknown";
  if (hosts.some((h) => sameEndpoint(h, first))) return "none";
  if (!second) return "unknown";
  return sameEndpoint(first, second) ? "endpoint-independent" : "endpoint-dependent";
}
