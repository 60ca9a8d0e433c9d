import { describe, expect, it } from "vitest";
import { AccessList } from "../src/agent/access.ts";

describe("the access list", () => {
  it("allows trusted peers and members of networks in sync, and nobody else", () => {
    const access = new AccessList();
    access.setTrusted([5]);
    access.syncNetwork(1, [7, 8]);
    expect([5, 7, 8, 9].map((p) => access.allows(p))).toEqual([true, true, true, false]);
    access.public = true;
    expect(access.allows(9)).toBe(true);
    // Being public lets anyone in, but relates the node to nobody (TURN permissions go by this).
    expect([5, 7, 9].map((p) => access.related(p))).toEqual([true, true, false]);
  });

  it("stops honouring a network the moment its channel drops, until it is in sync again", () => {
    const access = new AccessList();
    access.syncNetwork(1, [7]);
    expect(access.forgetNetwork(1)).toEqual([7]);
    expect(access.allows(7)).toBe(false);
    // Events for a network that is not in sync change nothing.
    access.addMember(1, 7);
    expect(access.allows(7)).toBe(false);
    access.syncNetwork(1, [7]);
    expect(access.allows(7)).toBe(true);
  });

  it("knows whether a removal from one network is the peer's last grant", () => {
    const access = new AccessList();
    access.syncNetwork(1, [7]);
    access.syncNetwork(2, [7, 8]);
    access.setTrusted([9]);
    expect(access.grantedOnlyBy(7, 1)).toBe(false);
    expect(access.grantedOnlyBy(8, 2)).toBe(true);
    access.syncNetwork(3, [9]);
    expect(access.grantedOnlyBy(9, 3)).toBe(false);
    access.untrust(9);
    expect(access.grantedOnlyBy(9, 3)).toBe(true);
  });

  it("tells of every peer a change lets in, so a lookup that failed before it is not held against the peer", () => {
    const granted: number[] = [];
    const access = new AccessList((peer) => granted.push(peer));
    access.setTrusted([5]);
    access.trust(6);
    access.syncNetwork(1, [7, 8]);
    access.addMember(1, 9);
    // A member added to a network that is not in sync is let in by nothing.
    access.addMember(2, 10);
    access.untrust(6);
    access.removeMember(1, 7);
    expect(granted).toEqual([5, 6, 7, 8, 9]);
  });

  it("stops trusting a peer at its trust's end, on the clock of each decision", () => {
    let now = 1_000;
    const access = new AccessList(undefined, () => now);
    access.setTrusted([[5, 2_000], [6, null]]);
    expect([5, 6].map((p) => access.allows(p))).toEqual([true, true]);
    now = 1_999;
    expect(access.trusted()).toEqual([5, 6]);
    now = 2_000;
    expect([5, 6].map((p) => access.allows(p))).toEqual([false, true]);
    expect(access.trusted()).toEqual([6]);
    expect(access.grantedOnlyBy(5, 1)).toBe(true);
  });
});
