import { describe, expect, it } from "vitest";
import { AccessList } from "../src/agent/access.ts";
import { OPEN, policyOf } from "./policies.ts";

describe("the access list", () => {
  it("allows trusted peers and members of networks in sync, and nobody else", () => {
    const access = new AccessList();
    access.setTrusted([5]);
    access.syncNetwork(1, [7, 8], OPEN);
    expect([5, 7, 8, 9].map((p) => access.allows(p))).toEqual([true, true, true, false]);
    access.public = true;
    expect(access.allows(9)).toBe(true);
    // Being public lets anyone in, but relates the node to nobody (TURN permissions go by this).
    expect([5, 7, 9].map((p) => access.related(p))).toEqual([true, true, false]);
  });

  it("stops honouring a network the moment its channel drops, until it is in sync again", () => {
    const access = new AccessList();
    access.syncNetwork(1, [7], OPEN);
    expect(access.forgetNetwork(1)).toEqual([7]);
    expect(access.allows(7)).toBe(false);
    // Events for a network that is not in sync change nothing.
    access.addMember(1, 7);
    expect(access.allows(7)).toBe(false);
    access.syncNetwork(1, [7], OPEN);
    expect(access.allows(7)).toBe(true);
  });

  it("tells of every peer a change lets in, so a lookup that failed before it is not held against the peer", () => {
    const granted: number[] = [];
    const access = new AccessList((peer) => granted.push(peer));
    access.setTrusted([5]);
    access.trust(6);
    access.syncNetwork(1, [7, 8], OPEN);
    access.addMember(1, 9);
    // A member added to a network that is not in sync is let in by nothing.
    access.addMember(2, 10);
    access.untrust(6);
    access.removeMember(1, 7);
    expect(granted).toEqual([5, 6, 7, 8, 9]);
  });

  it("stops trusting a peer at its trust's end, on the clock of each decision", () => {
    let now = 1_000;
    const access = new AccessList(undefined, undefined, () => now);
    access.setTrusted([[5, 2_000], [6, null]]);
    expect([5, 6].map((p) => access.allows(p))).toEqual([true, true]);
    now = 1_999;
    expect(access.trusted()).toEqual([5, 6]);
    now = 2_000;
    expect([5, 6].map((p) => access.allows(p))).toEqual([false, true]);
    expect(access.trusted()).toEqual([6]);
    expect(access.related(5)).toBe(false);
  });

  describe("with port policies", () => {
    const ME = 1;
    const webToApi = policyOf([{ from: "web", to: "api", ports: [80, [8000, 8099]], protocols: ["stream"] }], { [ME]: ["api"], 7: ["web"], 8: [] });

    it("lets a network's members in only on what its policy grants this node", () => {
      const access = new AccessList(undefined, () => ME);
      access.syncNetwork(1, [7, 8], webToApi);
      expect(access.allows(7, 80, "stream")).toBe(true);
      expect(access.allows(7, 8099, "stream")).toBe(true);
      expect(access.allows(7, 81, "stream")).toBe(false);
      expect(access.allows(7, 80, "datagram")).toBe(false);
      expect(access.allows(8, 80, "stream")).toBe(false);
      // The tunnel is peer by peer: both are still co-members.
      expect([7, 8].map((p) => access.allows(p))).toEqual([true, true]);
      expect([7, 8].map((p) => access.related(p))).toEqual([true, true]);
    });

    it("grants every port through trust or being public", () => {
      const access = new AccessList(undefined, () => ME);
      access.syncNetwork(1, [7, 8], webToApi);
      access.trust(8);
      expect(access.allows(8, 22, "datagram")).toBe(true);
      access.public = true;
      expect(access.allows(9, 22, "stream")).toBe(true);
    });

    it("asks each network on its own: a union per network, never tags from one in another's rules", () => {
      const access = new AccessList(undefined, () => ME);
      // The peer is "web" only in network 1, this node "api" only in network 2: neither network allows it.
      access.syncNetwork(1, [7], policyOf(webToApi.rules, { [ME]: [], 7: ["web"] }));
      access.syncNetwork(2, [7], policyOf(webToApi.rules, { [ME]: ["api"], 7: [] }));
      expect(access.allows(7, 80, "stream")).toBe(false);
      // A third network that grants port 22 adds that port, and only it.
      access.syncNetwork(3, [7], policyOf([{ from: "*", to: "*", ports: [22], protocols: ["stream"] }]));
      expect(access.allows(7, 22, "stream")).toBe(true);
      expect(access.allows(7, 80, "stream")).toBe(false);
      // A network with no rules grants every port.
      access.syncNetwork(4, [7], OPEN);
      expect(access.allows(7, 80, "datagram")).toBe(true);
      access.forgetNetwork(4);
      expect(access.allows(7, 80, "datagram")).toBe(false);
    });

    it("tells this node, per shared network, whether the peer's daemon will let it reach a port, and by which rule", () => {
      const access = new AccessList(undefined, () => 7);
      access.syncNetwork(1, [ME], webToApi);
      access.syncNetwork(2, [ME], OPEN);
      access.syncNetwork(3, [8], webToApi);
      expect(access.reachVerdicts(ME, 8050, "stream")).toEqual([
        { network_id: 1, allowed: true, rule: 0, reason: "rule" },
        { network_id: 2, allowed: true, rule: null, reason: "no_policy" },
      ]);
      expect(access.reachVerdicts(ME, 81, "stream")[0]).toEqual({ network_id: 1, allowed: false, rule: null, reason: "no_rule" });
      expect(access.reachVerdicts(9, 80, "stream")).toEqual([]);
    });

    it("replaces a network's policy whole, takes a joining member's tags, and ignores a network not in sync", () => {
      const access = new AccessList(undefined, () => ME);
      access.syncNetwork(1, [7], OPEN);
      access.setPolicy(1, webToApi);
      expect(access.allows(7, 81, "stream")).toBe(false);
      access.addMember(1, 9, ["web"]);
      expect(access.allows(9, 80, "stream")).toBe(true);
      access.setPolicy(1, OPEN);
      expect(access.allows(7, 81, "stream")).toBe(true);
      access.forgetNetwork(1);
      access.setPolicy(1, OPEN);
      expect(access.allows(7, 81, "stream")).toBe(false);
    });
  });
});
