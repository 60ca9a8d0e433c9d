/**
 * The daemon's trust against a scripted registry: the test decides when each read of the trust
 * list answers, so a read that straddles a trust event is played out exactly.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HandshakeReply, TrustedPeer } from "@pilot/protocol";
import { AccessList } from "../src/agent/access.ts";
import { Trust, type TrustHost } from "../src/agent/trust.ts";
import { ensureHome, homePaths } from "../src/store/home.ts";

const peer = (node_id: number): TrustedPeer => ({ node_id, mutual: false, network: 0, approved_at: new Date(0).toISOString() });

function harness() {
  const paths = homePaths(join(mkdtempSync(join(tmpdir(), "pilot-trust-")), "home"));
  ensureHome(paths.dir);
  const reads: ((trusted: number[]) => void)[] = [];
  const cut: number[] = [];
  const access = new AccessList();
  let handshake: HandshakeReply = { status: "sent" };
  const host: TrustHost = {
    registry: {
      handshake: async () => handshake,
      approveHandshake: async () => undefined,
      rejectHandshake: async () => undefined,
      untrust: async (node_id) => ({ node_id, revocation_id: "rv_AAAAAAAAAAAAAAAAAAAAAA" }),
      trusted: () => new Promise((resolve) => reads.push((ids) => resolve(ids.map(peer)))),
      pendingHandshakes: async () => [],
    },
    access,
    cutOff: (p) => cut.push(p),
    receipts: { confirmLater: () => undefined },
  };
  const trust = new Trust(paths.trust, host);
  const file = () => JSON.parse(readFileSync(paths.trust, "utf8"));
  /** Answers the oldest registry read waiting, once it has been asked. */
  const answer = async (ids: number[]) => {
    while (reads.length === 0) await new Promise((r) => setImmediate(r));
    reads.shift()!(ids);
  };
  return { trust, access, cut, file, answer, reply: (r: HandshakeReply) => (handshake = r), paths };
}

describe("trust", () => {
  it("reads again when an approval arrives during a read, so the stale list cannot undo it", async () => {
    const h = harness();
    const syncing = h.trust.sync();
    h.trust.onEvent({ type: "handshake_approved", seq: 1, node_id: 7, target: "7", mutual: false, network: 0 });
    await h.answer([]);
    await h.answer([7]);
    await syncing;
    expect(h.access.allows(7)).toBe(true);
    expect(h.file().trusted.map((t: TrustedPeer) => t.node_id)).toEqual([7]);
    expect(h.cut).toEqual([]);
  });

  it("cuts off a peer the registry no longer lists, unless a network still lets it in", async () => {
    const h = harness();
    h.access.setTrusted([5, 6]);
    h.access.syncNetwork(1, [6]);
    const syncing = h.trust.sync();
    await h.answer([]);
    await syncing;
    expect(h.cut).toEqual([5]);
    expect(h.access.allows(6)).toBe(true);
  });

  it("records the requests it sends, and their answers", async () => {
    const h = harness();
    await h.trust.request("agent-b", "let me in");
    h.trust.onEvent({ type: "handshake_rejected", seq: 1, target: "agent-b", reason: "no" });
    expect(h.file().outgoing).toEqual([expect.objectContaining({ target: "agent-b", node_id: null, status: "rejected: no" })]);
    h.reply({ status: "approved", node_id: 9 });
    const asking = h.trust.request("agent-b", "please");
    await h.answer([9]);
    await asking;
    expect(h.file().outgoing).toEqual([expect.objectContaining({ target: "agent-b", node_id: 9, justification: "please", status: "approved" })]);
    expect(h.access.allows(9)).toBe(true);
  });

  it("keeps what the registry confirmed last across a restart, and forgets a revoked peer at once", async () => {
    const h = harness();
    const syncing = h.trust.sync();
    await h.answer([3, 4]);
    await syncing;
    const access = new AccessList();
    const again = new Trust(h.paths.trust, { registry: {} as TrustHost["registry"], access, cutOff: (p) => h.cut.push(p), receipts: { confirmLater: () => undefined } });
    expect(access.trusted()).toEqual([3, 4]);
    again.onEvent({ type: "trust_revoked", seq: 2, node_id: 3 });
    expect(access.trusted()).toEqual([4]);
    expect(h.cut).toEqual([3]);
    expect(h.file().trusted.map((t: TrustedPeer) => t.node_id)).toEqual([4]);
  });
});
