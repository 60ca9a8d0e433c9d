/**
 * Which of a node's own addresses another node is told of. Private IPv4 addresses (a LAN, a VPN, a
 * container bridge) mean something only to a node on the same network, which shares the public
 * address its NAT gives both. Anyone else would only learn the node's private layout, and send its
 * probes to whatever host has that address on its own LAN.
 */

const PRIVATE_V4: readonly (readonly [number, number])[] = [
  [10 << 8, 8],
  [(172 << 8) | 16, 12],
  [(192 << 8) | 168, 16],
  [(100 << 8) | 64, 10],
  [(169 << 8) | 254, 16],
];

/** RFC 1918, shared (carrier-grade NAT) and link-local IPv4: addresses only neighbours reach. */
export function isPrivateIPv4(address: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}$/.exec(address);
  if (!m) return false;
  const top16 = (Number(m[1]) << 8) | Number(m[2]);
  return PRIVATE_V4.some(([prefix, bits]) => top16 >> (16 - bits) === prefix >> (16 - bits));
}

/** The address part of `a.b.c.d:port` or `[v6]:port`. */
const hostOf = (endpoint: string): string => endpoint.replace(/^\[/, "").replace(/\]?:\d+$/, "");

/**
 * A node's own addresses as another node may use them: private IPv4 ones only when the two share a
 * public address (or either's is unknown, as on a LAN without STUN).
 */
export function lanCandidatesFor(lanAddrs: readonly string[], ownEndpoint: string | null, otherEndpoint: string | null): string[] {
  if (!ownEndpoint || !otherEndpoint || hostOf(ownEndpoint) === hostOf(otherEndpoint)) return [...lanAddrs];
  return lanAddrs.filter((e) => !isPrivateIPv4(hostOf(e)));
}
