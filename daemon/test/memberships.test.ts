/**
 * The daemon's memberships against a scripted registry: the test decides when each read of the
 * node's network list answers and what it says, and holds each network channel's handlers, so
 * the interleavings that real timing makes rare are played out exactly.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { AccessList } from "../src/agent/access.ts";
import { Memberships } from "../src/agent/memberships.ts";
import type { ChannelHandlers } from "../src/registry-client.ts";
import type { Member, Membership, PolicyState, PushEvent } from "@pilot/protocol";
import { OPEN, policyOf } from "./policies.ts";

interface Read {
  answer(networks: number[]): void;
  fail(): void;
}

function harness() {
  const reads: Read[] = [];
  const channels: { networkId: number; handlers: ChannelHandlers<PushEvent>; closed: boolean }[] = [];
  const cut: { peer: number; why: string }[] = [];
  const enforced: number[] = [];
  /** Peers still related whose connections were re-judged when access to them narrowed. */
  const rejudged: number[] = [];
  /** Trust each network vouched for, as trust.json would hold it: ended with the network's say. */
  const vouched = new Map<number, number[]>();
  const access = new AccessList();
  const members = new Map<number, number[]>();
  /** Each confirmation of cut-offs asked for, with who was granted access at that moment; `failReceipts` makes them fail. */
  const confirmations: number[][] = [];
  let failReceipts = false;
  const membership = (id: number): Membership => ({ network_id: id, name: `net-${id}`, address: "", joined_at: new Date(0).toISOString() });
  const memberships = new Memberships({
    registry: {
      networks: () =>
        new Promise((resolve, reject) => reads.push({ answer: (ids) => resolve(ids.map(membership)), fail: () => reject(new Error("registry unreachable")) })),
      allMembers: async (id: number) => (members.get(id) ?? []).map((node_id) => ({ node_id }) as Member),
      channel: (networkId: number, handlers: ChannelHandlers<PushEvent>) => {
        const entry = { networkId, handlers, closed: false };
        channels.push(entry);
        return {
          close: () => {
            if (entry.closed) return;
            entry.closed = true;
            handlers.onEnd?.("closed");
          },
        } as never;
      },
    },
    access,
    receipts: {
      confirm: async () => {
        confirmations.push([5, 6].flatMap((id) => access.syncedNetworks().includes(id) ? [id] : []));
        if (failReceipts) throw new Error("registry unreachable");
      },
      confirmLater: () => void confirmations.push([]),
    },
    nodeId: () => 1,
    cutOff: (peer, why) => cut.push({ peer, why }),
    policyChanged: (networkId) => enforced.push(networkId),
    untrust: (peer) => access.untrust(peer),
    endVouched: (networkId, peer) => {
      for (const p of vouched.get(networkId) ?? []) if (peer === undefined || p === peer) access.untrust(p);
    },
    rejudge: (peer) => rejudged.push(peer),
    emit: () => undefined,
    log: () => undefined,
  });
  const open = () => channels.filter((c) => !c.closed).map((c) => c.networkId);
  const receiptsFail = (fail: boolean) => (failReceipts = fail);
  return { reads, channels, cut, enforced, rejudged, vouched, access, members, memberships, open, confirmations, receiptsFail };
}

const settle = () => new Promise((r) => setImmediate(r));

/** A connection of the channel: its hello (with this policy), then the resync it starts. */
async function resync(channel: { networkId: number; handlers: ChannelHandlers<PushEvent> }, policy: PolicyState = OPEN) {
  channel.handlers.onEvent({ type: "hello", network_id: channel.networkId, node_id: 1, revision: 0, policy });
  await channel.handlers.onResync?.(0);
}

/** Network 5 with these members, listed for the node and its channel in sync: the channel. */
async function inSync(h: ReturnType<typeof harness>, members: number[]) {
  h.members.set(5, members);
  const sync = h.memberships.sync();
  await settle();
  h.reads[0]!.answer([5]);
  await sync;
  const channel = h.channels[0]!;
  await resync(channel);
  return channel;
}

afterEach(() => vi.useRealTimers());

describe("memberships", () => {
  it("runs a read asked for during another after it, joins further asks to it, and ends where the last read says", async () => {
    const h = harness();
    const first = h.memberships.sync();
    await settle();
    // An add and then a removal arrive while the first read is out.
    const second = h.memberships.sync();
    const third = h.memberships.sync();
    expect(third).toBe(second);
    expect(h.reads).toHaveLength(1);
    h.reads[0]!.answer([5]);
    await first;
    expect(h.open()).toEqual([5]);
    await settle();
    expect(h.reads).toHaveLength(2);
    h.reads[1]!.answer([]);
    await second;
    expect(h.open()).toEqual([]);
  });

  it("grants a network's members only once its channel is in sync, and takes them back when the channel drops or ends", async () => {
    const h = harness();
    h.members.set(5, [1, 7, 8]);
    const sync = h.memberships.sync();
    await settle();
    h.reads[0]!.answer([5]);
    await sync;
    expect(h.access.allows(7)).toBe(false);
    const channel = h.channels[0]!;
    await resync(channel);
    expect([7, 8, 9].map((p) => h.access.allows(p))).toEqual([true, true, false]);
    expect(h.memberships.list()).toEqual([{ network_id: 5, synced: true }]);
    // A removal pushed on the channel takes that member out; the others stay.
    channel.handlers.onEvent({ type: "member_removed", network_id: 5, revision: 3, node_id: 8, reason: "removed" });
    expect([7, 8].map((p) => h.access.allows(p))).toEqual([true, false]);
    expect(h.cut.map((c) => c.peer)).toEqual([8]);
    h.cut.length = 0;
    h.members.set(5, [1, 7]);
    // A dropped channel grants nothing, but holds live connections: it is usually the path.
    channel.handlers.onDisconnect?.();
    expect(h.access.allows(7)).toBe(false);
    expect(h.cut).toEqual([]);
    await resync(channel);
    expect(h.access.allows(7)).toBe(true);
    expect(h.cut).toEqual([]);
    // Removed while the channel was down: the resync cuts the member off.
    channel.handlers.onDisconnect?.();
    h.members.set(5, [1]);
    await resync(channel);
    expect(h.access.allows(7)).toBe(false);
    expect(h.cut.map((c) => c.peer)).toEqual([7]);
    h.members.set(5, [1, 7]);
    await resync(channel);
    h.cut.length = 0;

    // The list no longer has the network: its channel closes and its members lose access.
    const again = h.memberships.sync();
    await settle();
    h.reads[1]!.answer([]);
    await again;
    expect(channel.closed).toBe(true);
    expect(h.access.allows(7)).toBe(false);
  });

  it("ignores a closed channel's late resync, which would otherwise grant a network the node has left", async () => {
    const h = harness();
    h.members.set(5, [7]);
    const sync = h.memberships.sync();
    await settle();
    h.reads[0]!.answer([5]);
    await sync;
    const old = h.channels[0]!;
    const leave = h.memberships.sync();
    await settle();
    h.reads[1]!.answer([]);
    await leave;
    await resync(old);
    old.handlers.onEvent({ type: "member_added", network_id: 5, revision: 2, member: { node_id: 9 } as Member });
    expect([7, 9].map((p) => h.access.allows(p))).toEqual([false, false]);
  });

  it("re-reads the list when a channel ends because the node was removed, keeping a network it was added back to", async () => {
    const h = harness();
    const sync = h.memberships.sync();
    await settle();
    h.reads[0]!.answer([5]);
    await sync;
    // The removal ends the channel; by the time the list is read the owner has added the node back.
    h.channels[0]!.closed = true;
    h.channels[0]!.handlers.onEnd?.("removed");
    await settle();
    expect(h.open()).toEqual([]);
    h.reads[1]!.answer([5]);
    await settle();
    expect(h.open()).toEqual([5]);
    expect(h.channels).toHaveLength(2);
  });

  it("tries a failed read again with backoff until one succeeds", async () => {
    vi.useFakeTimers();
    const h = harness();
    const first = h.memberships.sync();
    await vi.advanceTimersByTimeAsync(0);
    h.reads[0]!.fail();
    await first;
    expect(h.open()).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    expect(h.reads).toHaveLength(2);
    h.reads[1]!.fail();
    await vi.advanceTimersByTimeAsync(999);
    expect(h.reads).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.reads).toHaveLength(3);
    h.reads[2]!.answer([5]);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.open()).toEqual([5]);
    h.memberships.close();
    expect(h.open()).toEqual([]);
  });

  it("lets go of members held through a dropped channel when the channel then ends", async () => {
    const h = harness();
    const channel = await inSync(h, [1, 7]);
    channel.handlers.onDisconnect?.();
    expect(h.cut).toEqual([]);
    // Removed while the channel was down: the reconnection is refused and the channel ends.
    channel.handlers.onEnd?.("removed");
    expect(h.access.allows(7)).toBe(false);
    expect(h.cut.map((c) => c.peer)).toEqual([7]);
  });

  it("enforces the policy the channel greeted with from the resync on, replaces it on each policy_updated, and never syncs without one", async () => {
    const h = harness();
    h.members.set(5, [1, 7]);
    const sync = h.memberships.sync();
    await settle();
    h.reads[0]!.answer([5]);
    await sync;
    const channel = h.channels[0]!;
    const only80 = policyOf([{ from: "*", to: "*", ports: [80], protocols: ["stream"] }]);
    await resync(channel, only80);
    expect([h.access.allows(7, 80, "stream"), h.access.allows(7, 81, "stream")]).toEqual([true, false]);
    expect(h.enforced).toEqual([5]);
    channel.handlers.onEvent({ type: "policy_updated", network_id: 5, ...policyOf([{ from: "*", to: "*", ports: [81], protocols: ["stream"] }], {}, 2) });
    expect([h.access.allows(7, 80, "stream"), h.access.allows(7, 81, "stream")]).toEqual([false, true]);
    expect(h.enforced).toEqual([5, 5]);
    // A connection whose hello carried no policy is not in sync: the resync fails, and is made again.
    channel.handlers.onDisconnect?.();
    await expect(channel.handlers.onResync?.(0)).rejects.toThrow(/without a policy/);
    expect(h.access.allows(7)).toBe(false);
  });

  it("judges a policy change done once the revision it made is held in sync and enforced, and asks for receipts each time it enforces one", async () => {
    const h = harness();
    const channel = await inSync(h, [1, 7]);
    // The resync enforced the greeting's policy (revision 0) and asked for receipts after it.
    expect([h.memberships.policyDone(5, 0), h.memberships.policyDone(5, 1)]).toEqual([true, false]);
    const asked = h.confirmations.length;
    channel.handlers.onEvent({ type: "policy_updated", network_id: 5, ...policyOf([], {}, 2) });
    expect(h.enforced).toEqual([5, 5]);
    expect(h.confirmations.length).toBe(asked + 1);
    expect([h.memberships.policyDone(5, 1), h.memberships.policyDone(5, 2), h.memberships.policyDone(5, 3)]).toEqual([true, true, false]);
    // Through a dropped channel it holds no policy: nothing is done until the resync enforces one.
    channel.handlers.onDisconnect?.();
    expect(h.memberships.policyDone(5, 2)).toBe(false);
    // A policy_updated heard while out of sync is not in force, so it confirms nothing either.
    channel.handlers.onEvent({ type: "policy_updated", network_id: 5, ...policyOf([], {}, 3) });
    expect(h.memberships.policyDone(5, 3)).toBe(false);
    await resync(channel, policyOf([], {}, 3));
    expect(h.memberships.policyDone(5, 3)).toBe(true);
    // A node no longer in the network takes nothing from its policy.
    channel.handlers.onEnd?.("removed");
    expect(h.memberships.policyDone(5, 9)).toBe(true);
  });

  it("confirms what a resync cut off before the network grants anything, and grants nothing if the registry cannot take the receipts", async () => {
    const h = harness();
    const channel = await inSync(h, [1, 7, 8]);
    expect(h.memberships.cutDone({ revocation_id: "rv_AAAAAAAAAAAAAAAAAAAAAA", kind: "removed", network_id: 5, peer: 8 })).toBe(false);
    // Node 8 removed while the channel was down: not done while the channel's members are held.
    channel.handlers.onDisconnect?.();
    const removal = { revocation_id: "rv_AAAAAAAAAAAAAAAAAAAAAA", kind: "removed", network_id: 5, peer: 8 } as const;
    expect(h.memberships.cutDone(removal)).toBe(false);
    h.members.set(5, [1, 7]);
    h.confirmations.length = 0;
    h.receiptsFail(true);
    await expect(resync(channel)).rejects.toThrow("registry unreachable");
    // Cut off, but the receipts did not go: the network still grants nobody, and the channel reconnects.
    expect(h.cut.map((c) => c.peer)).toEqual([8]);
    expect(h.confirmations).toEqual([[]]);
    expect(h.access.allows(7)).toBe(false);
    h.receiptsFail(false);
    await resync(channel);
    // The receipts were confirmed while network 5 granted nothing, then its members came back (and
    // once its policy was enforced, receipts were asked for again: a policy change's are done now).
    expect(h.confirmations).toEqual([[], [], []]);
    expect([7, 8].map((p) => h.access.allows(p))).toEqual([true, false]);
    expect(h.memberships.cutDone(removal)).toBe(true);
    // This node's own removal is done once the channel is gone.
    const own = { ...removal, peer: 0 };
    expect(h.memberships.cutDone(own)).toBe(false);
    channel.handlers.onEnd?.("removed");
    expect(h.memberships.cutDone(own)).toBe(true);
  });
});

describe("access that narrows while the peer stays related", () => {
  it("re-judges the peer's connections when a removal leaves it reachable through another network (an attack before the fix)", async () => {
    const h = harness();
    h.members.set(5, [1, 7]);
    h.members.set(6, [1, 7]);
    const sync = h.memberships.sync();
    await settle();
    h.reads[0]!.answer([5, 6]);
    await sync;
    const [five, six] = [h.channels.find((c) => c.networkId === 5)!, h.channels.find((c) => c.networkId === 6)!];
    // Network 5 lets 7 reach port 22; network 6 only port 80.
    await resync(five, policyOf([{ from: "*", to: "*", ports: [22], protocols: ["stream"] }]));
    await resync(six, policyOf([{ from: "*", to: "*", ports: [80], protocols: ["stream"] }]));
    expect(h.access.allows(7, 22, "stream")).toBe(true);
    five.handlers.onEvent({ type: "member_removed", network_id: 5, revision: 2, node_id: 7, reason: "removed" });
    expect(h.access.allows(7, 22, "stream")).toBe(false);
    // Not cut off (network 6 still relates the two), but what only network 5 allowed is re-judged.
    expect(h.cut).toEqual([]);
    expect(h.rejudged).toEqual([7]);
  });

  it("ends the trust a network vouched for with the removal, before the removal's receipt can be due (an attack before the fix)", async () => {
    const h = harness();
    const channel = await inSync(h, [1, 7]);
    // 7 handshook this node and network 5 approved it: the registry deletes that pair with the
    // removal, but its trust_revoked comes on the node channel, which may be later.
    h.access.trust(7);
    h.vouched.set(5, [7]);
    channel.handlers.onEvent({ type: "member_removed", network_id: 5, revision: 2, node_id: 7, reason: "removed" });
    const removal = { revocation_id: "rv_AAAAAAAAAAAAAAAAAAAAAA", kind: "removed", network_id: 5, peer: 7 } as const;
    expect(h.access.allows(7, 22, "stream")).toBe(false);
    expect(h.cut.map((c) => c.peer)).toEqual([7]);
    expect(h.memberships.cutDone(removal)).toBe(true);
  });

  it("ends the trust a network vouched for once the network has rules, so it cannot step around them", async () => {
    const h = harness();
    const channel = await inSync(h, [1, 7]);
    h.access.trust(7);
    h.vouched.set(5, [7]);
    expect(h.access.allows(7, 22, "stream")).toBe(true);
    channel.handlers.onEvent({ type: "policy_updated", network_id: 5, ...policyOf([{ from: "*", to: "*", ports: [80], protocols: ["stream"] }], {}, 1) });
    expect([h.access.allows(7, 80, "stream"), h.access.allows(7, 22, "stream")]).toEqual([true, false]);
  });
});
