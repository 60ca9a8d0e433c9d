/**
 * The MTU of the first hop towards an address: the interface the kernel's routing table sends it
 * out of (and the route's own MTU, when it sets one). Nothing the data plane sends may be larger:
 * Node cannot set the don't-fragment flag on a UDP socket, and Linux, by default, fragments a
 * datagram larger than its route's MTU on the way out (and sets the flag on the ones that fit).
 * Below this size a datagram leaves whole; how much of it arrives is for path MTU discovery
 * (dataplane/tunnel/path-mtu.ts) to find out.
 *
 * On Linux it is read from /proc/net/route, /proc/net/ipv6_route and /sys/class/net: the main
 * routing table by longest prefix (policy routing is not followed), and for this host's own
 * addresses the loopback interface, which is where the kernel delivers them. Elsewhere, or when
 * the files cannot be read, it is a size such paths commonly carry: 16 KiB on loopback (macOS's
 * loopback MTU), 1,500 bytes (Ethernet's) otherwise.
 */
import { readFileSync } from "node:fs";
import { BlockList, isIPv6 } from "node:net";
import { endianness, networkInterfaces } from "node:os";

/** The largest IP packet: a UDP datagram cannot be larger whatever the link. */
export const MAX_IP_PACKET = 65_535;
const FALLBACK_MTU = 1500;
const FALLBACK_LOOPBACK_MTU = 16_384;
const RTF_UP = 0x1;
const RTF_REJECT = 0x200;

interface Route {
  iface: string;
  prefix: number;
  metric: number;
  /** The route's own MTU, or 0 when it sets none. */
  mtu: number;
  matches: BlockList;
}

const isLoopback = (address: string): boolean => address.startsWith("127.") || address === "::1";

/** The first hop's MTU towards `address`, in bytes of IP packet. */
export function firstHopMtu(address: string): number {
  const own = isLoopback(address) || Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === address));
  try {
    if (own) {
      const loopback = Object.entries(networkInterfaces()).find(([, list]) => list?.some((i) => i.internal))?.[0];
      if (loopback) return Math.min(interfaceMtu(loopback), MAX_IP_PACKET);
    } else {
      const route = bestRoute(address);
      if (route) {
        const mtu = interfaceMtu(route.iface);
        return Math.min(route.mtu > 0 ? Math.min(route.mtu, mtu) : mtu, MAX_IP_PACKET);
      }
    }
  } catch {
    // Not Linux, or the files are not readable: the common sizes below.
  }
  return own ? FALLBACK_LOOPBACK_MTU : FALLBACK_MTU;
}

function interfaceMtu(iface: string): number {
  // The name comes from the kernel's own files, but it becomes part of a path: only a plain name.
  if (!/^[\w.:-]{1,15}$/.test(iface)) throw new Error(`unexpected interface name ${JSON.stringify(iface)}`);
  const mtu = Number(readFileSync(`/sys/class/net/${iface}/mtu`, "utf8").trim());
  if (!Number.isInteger(mtu) || mtu <= 0) throw new Error(`no MTU for ${iface}`);
  return mtu;
}

/** The route the main table picks for `address`: the longest prefix, then the lowest metric. */
function bestRoute(address: string): Route | undefined {
  const routes = isIPv6(address) ? ipv6Routes() : ipv4Routes();
  let best: Route | undefined;
  for (const r of routes) {
    if (!r.matches.check(address, isIPv6(address) ? "ipv6" : "ipv4")) continue;
    if (!best || r.prefix > best.prefix || (r.prefix === best.prefix && r.metric < best.metric)) best = r;
  }
  return best;
}

/**
 * /proc/net/route: `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`, the
 * destination and mask as the hex of a network-order word read in host order.
 */
function ipv4Routes(): Route[] {
  const routes: Route[] = [];
  for (const line of readFileSync("/proc/net/route", "utf8").split("\n").slice(1)) {
    const [iface, destination, , flags, , , metric, mask, mtu] = line.trim().split(/\s+/);
    if (!iface || !destination || !mask || !mtu || !(parseInt(flags!, 16) & RTF_UP)) continue;
    const prefix = bitCount(parseInt(mask, 16));
    const matches = new BlockList();
    matches.addSubnet(ipv4Of(destination), prefix, "ipv4");
    routes.push({ iface, prefix, metric: parseInt(metric!, 16), mtu: Number(mtu), matches });
  }
  return routes;
}

/** /proc/net/ipv6_route: `destination prefix source prefix next-hop metric refcnt use flags iface`, all hex. */
function ipv6Routes(): Route[] {
  const routes: Route[] = [];
  for (const line of readFileSync("/proc/net/ipv6_route", "utf8").split("\n")) {
    const [destination, prefixHex, , , , metric, , , flagsHex, iface] = line.trim().split(/\s+/);
    if (!destination || !iface || destination.length !== 32) continue;
    const flags = parseInt(flagsHex!, 16);
    if (!(flags & RTF_UP) || flags & RTF_REJECT) continue;
    const prefix = parseInt(prefixHex!, 16);
    const matches = new BlockList();
    matches.addSubnet(destination.match(/.{4}/g)!.join(":"), prefix, "ipv6");
    routes.push({ iface, prefix, metric: parseInt(metric!, 16), mtu: 0, matches });
  }
  return routes;
}

function ipv4Of(hex: string): string {
  const word = parseInt(hex, 16);
  const bytes = [word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff];
  return (endianness() === "LE" ? bytes.reverse() : bytes).join(".");
}

function bitCount(word: number): number {
  let n = 0;
  for (let w = word >>> 0; w; w >>>= 1) n += w & 1;
  return n;
}
