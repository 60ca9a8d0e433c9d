/**
 * The first hop's MTU towards an address, checked against what `ip` says of the same address: the
 * device `ip route get` names, and that device's MTU as `ip link` reports it (over netlink, not the
 * files first-hop.ts reads).
 */
import { execFileSync } from "node:child_process";
import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { firstHopMtu, MAX_IP_PACKET } from "../src/net/first-hop.ts";

const ip = <T>(...args: string[]): T => JSON.parse(execFileSync("ip", ["-j", ...args], { encoding: "utf8" })) as T;

/** The MTU `ip` gives for the device a packet to `address` leaves by, or null when it has no route. */
function ipSays(address: string): number | null {
  let dev: string;
  try {
    dev = ip<{ dev: string }[]>(...(address.includes(":") ? ["-6"] : []), "route", "get", address)[0]!.dev;
  } catch {
    return null;
  }
  return Math.min(ip<{ mtu: number }[]>("link", "show", "dev", dev)[0]!.mtu, MAX_IP_PACKET);
}

// The routing table is read from Linux's /proc and /sys; other systems get the fallback sizes.
describe.skipIf(process.platform !== "linux")("the first hop's MTU", () => {
  it("is loopback's for loopback addresses and this host's own, capped at the largest IP packet", () => {
    const own = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((i) => !i.internal && i.family === "IPv4")
      .map((i) => i.address);
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", ...own]) {
      expect(firstHopMtu(address), address).toBe(ipSays(address));
    }
    expect(firstHopMtu("127.0.0.1")).toBeLessThanOrEqual(MAX_IP_PACKET);
  });

  it("is that of the device the routing table sends an address out of, or Ethernet's where no route leads", () => {
    for (const address of ["192.0.2.77", "198.51.100.9", "203.0.113.200", "2001:db8::1", "fd12:3456::1"]) {
      expect(firstHopMtu(address), address).toBe(ipSays(address) ?? 1500);
    }
  });
});
