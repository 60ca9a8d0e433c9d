/** Candidates: which of a peer's endpoints to try and in what order, and what a node's NAT does. */
import { describe, expect, it } from "vitest";
import { isPrivateIPv4 } from "@pilot/protocol";
import { candidateList, isGlobalIPv6, natBehaviour, tier, TIER_GAP_MS, tierOffsets } from "../src/net/candidates.ts";
import { stunServers } from "../src/net/public-endpoint.ts";

describe("candidates", () => {
  it("tell private and shared IPv4 from public, and global IPv6 from the rest", () => {
    for (const a of ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.2", "100.64.0.1", "100.127.255.254", "169.254.9.9"]) expect(isPrivateIPv4(a), a).toBe(true);
    for (const a of ["172.15.0.1", "172.32.0.1", "192.169.0.1", "100.128.0.1", "203.0.113.5", "8.8.8.8", "::1", "not an address"]) expect(isPrivateIPv4(a), a).toBe(false);
    for (const a of ["2001:db8::7", "2606:4700::1111", "3fff::1"]) expect(isGlobalIPv6(a), a).toBe(true);
    for (const a of ["fe80::1", "fd00::1", "::1", "::ffff:1.2.3.4", "10.0.0.1", "2::1", "3ff::1"]) expect(isGlobalIPv6(a), a).toBe(false);
  });

  it("list a peer's candidates once each, IPv6 first, then its LAN, then its public mapping, skipping what cannot be used", () => {
    const lan = ["192.168.1.2:4000", "203.0.113.7:4000", "[2001:db8::7]:4001", "[fe80::1]:4001", "garbage", "host.example:1"];
    // Seen from behind the same public address.
    const list = candidateList("203.0.113.7:4000", lan, "203.0.113.7:5000");
    expect(list).toEqual([
      { address: "2001:db8::7", port: 4001 },
      { address: "192.168.1.2", port: 4000 },
      { address: "203.0.113.7", port: 4000 },
    ]);
    expect(list.map(tier)).toEqual([0, 1, 2]);
    expect(tierOffsets(list)).toEqual([
      { tier: 0, offsetMs: 0 },
      { tier: 1, offsetMs: TIER_GAP_MS },
      { tier: 2, offsetMs: 2 * TIER_GAP_MS },
    ]);
    // A peer with only a public mapping is tried at once: an empty tier costs no wait.
    expect(tierOffsets(list.slice(2))).toEqual([{ tier: 2, offsetMs: 0 }]);
    expect(candidateList(null, [], null)).toEqual([]);
    // Seen from elsewhere, its private addresses name hosts on the other node's own LAN: left out.
    expect(candidateList("203.0.113.7:4000", lan, "198.51.100.9:4000")).toEqual([
      { address: "2001:db8::7", port: 4001 },
      { address: "203.0.113.7", port: 4000 },
    ]);
    // Without a public mapping on either side (a LAN without STUN), all of them.
    expect(candidateList(null, lan, "198.51.100.9:4000")).toHaveLength(3);
    expect(candidateList("203.0.113.7:4000", lan, null)).toHaveLength(3);
  });

  it("name the NAT's behaviour from two servers' view of one socket", () => {
    const hosts = [{ address: "192.168.1.2", port: 4000 }];
    const mapped = { address: "203.0.113.2", port: 4000 };
    expect(natBehaviour(hosts, null, null)).toBe("unknown");
    expect(natBehaviour(hosts, mapped, null)).toBe("unknown");
    expect(natBehaviour(hosts, mapped, { ...mapped })).toBe("endpoint-independent");
    expect(natBehaviour(hosts, mapped, { ...mapped, port: 31337 })).toBe("endpoint-dependent");
    expect(natBehaviour([mapped], mapped, null)).toBe("none");
  });

  it("read the STUN setting as one or two servers, or none", () => {
    expect(stunServers("off")).toEqual([]);
    expect(stunServers("stun.example:3478")).toEqual([{ host: "stun.example", port: 3478 }]);
    expect(stunServers("a.example:3478, b.example:53")).toEqual([
      { host: "a.example", port: 3478 },
      { host: "b.example", port: 53 },
    ]);
  });
});
