/**
 * The daemon's trust against a scripted registry: the test decides when each read of the trust
 * list answers, so a read that straddles a trust event is played out exactly.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HandshakeReply, TrustedPeer } from "@pilot/protocol";
import { AccessList } from "../src/agent/access.ts";
import type { Clock } from "../src/agent/clock.ts";
import { OPEN } from "./policies.ts";
import { Trust, type TrustHost } from "../src/agent/trust.ts";
import { duration, UsageError } from "../src/cli/command.ts";
import { TRUST_COMMANDS } from "../src/cli/commands/trust.ts";
import { ensureHome, homePaths } from "../src/store/home.ts";

const peer = (node_id: number, expires_at: string | null = null): TrustedPeer => ({ node_id, mutual: false, network: 0, approved_at: new Date(0).toISOString(), expires_at });

/** Time that moves only when the test says: alarms due fire in order as it moves. */
class ManualClock implements Clock {
  time = Date.parse("2026-12-01T00:00:00.000Z");
  readonly #alarms: { when: number; f: () => void; live: boolean }[] = [];
  now = () => this.time;
  at(when: number, f: () => void) {
    const alarm = { when, f, live: true };
    this.#alarms.push(alarm);
    return () => void (alarm.live = false);
  }
  /** Moves time on by `ms`, firing the alarms that fall due. */
  advance(ms: number) {
    this.time += ms;
    for (;;) {
      const due = this.#alarms.filter((a) => a.live && a.when <= this.time).sort((a, b) => a.when - b.when)[0];
      if (!due) return;
      due.live = false;
      due.f();
    }
  }
  /** Moves time on without firing anything, as a machine asleep through an alarm's time would. */
  skip(ms: number) {
    this.time += ms;
  }
  pending() {
    return this.#alarms.filter((a) => a.live).map((a) => a.when);
  }
  /** An ISO time `ms` from now. */
  in(ms: number) {
    return new Date(this.time + ms).toISOString();
  }
}

function harness(clock = new ManualClock()) {
  const paths = homePaths(join(mkdtempSync(join(tmpdir(), "pilot-trust-")), "home"));
  ensureHome(paths.dir);
  const reads: ((trusted: (number | TrustedPeer)[]) => void)[] = [];
  const cut: number[] = [];
  const why: string[] = [];
  /** Peers still related whose connections were re-judged when their trust ended. */
  const rejudged: number[] = [];
  const access = new AccessList(undefined, undefined, clock.now);
  let handshake: HandshakeReply = { status: "sent" };
  const host: TrustHost = {
    registry: {
      handshake: async () => handshake,
      approveHandshake: async () => null,
      rejectHandshake: async () => undefined,
      untrust: async (node_id) => ({ node_id, revocation_id: "rv_AAAAAAAAAAAAAAAAAAAAAA" }),
      trusted: () => new Promise((resolve) => reads.push((peers) => resolve(peers.map((p) => (typeof p === "number" ? peer(p) : p))))),
      pendingHandshakes: async () => [],
    },
    access,
    cutOff: (p, reason) => {
      cut.push(p);
      why.push(reason);
    },
    rejudge: (p) => rejudged.push(p),
    receipts: { confirmLater: () => undefined },
    clock,
  };
  const trust = new Trust(paths.trust, host);
  const file = () => JSON.parse(readFileSync(paths.trust, "utf8"));
  /** Answers the oldest registry read waiting, once it has been asked. */
  const answer = async (peers: (number | TrustedPeer)[]) => {
    while (reads.length === 0) await new Promise((r) => setImmediate(r));
    reads.shift()!(peers);
  };
  return { trust, access, cut, why, rejudged, file, answer, reply: (r: HandshakeReply) => (handshake = r), paths, clock, host };
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
    h.access.syncNetwork(1, [6], OPEN);
    const syncing = h.trust.sync();
    await h.answer([]);
    await syncing;
    expect(h.cut).toEqual([5]);
    expect(h.access.allows(6)).toBe(true);
  });

  it("cuts off a peer the operator suspended, saying so, and takes it back from the registry's list when it is restored", async () => {
    const h = harness();
    const syncing = h.trust.sync();
    await h.answer([7]);
    await syncing;
    h.trust.onEvent({ type: "trust_revoked", seq: 1, node_id: 7, reason: "suspended" });
    expect(h.access.allows(7)).toBe(false);
    expect(h.cut).toEqual([7]);
    expect(h.why).toEqual(["node 7 was suspended by the registry's operator"]);
    h.trust.onEvent({ type: "trust_restored", seq: 2, node_id: 7 });
    await h.answer([7]);
    await new Promise((r) => setImmediate(r));
    expect(h.access.allows(7)).toBe(true);
    expect(h.file().trusted.map((t: TrustedPeer) => t.node_id)).toEqual([7]);
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
    const again = new Trust(h.paths.trust, { registry: {} as TrustHost["registry"], access, cutOff: (p) => h.cut.push(p), rejudge: (p) => h.rejudged.push(p), receipts: { confirmLater: () => undefined } });
    expect(access.trusted()).toEqual([3, 4]);
    again.onEvent({ type: "trust_revoked", seq: 2, node_id: 3 });
    expect(access.trusted()).toEqual([4]);
    expect(h.cut).toEqual([3]);
    expect(h.file().trusted.map((t: TrustedPeer) => t.node_id)).toEqual([4]);
  });
});

describe("trust that ends by itself", () => {
  const HOUR = 3_600_000;
  const ids = (f: { trusted: TrustedPeer[] }) => f.trusted.map((t) => t.node_id);

  it("ends at its expiry as an untrust does, with no word from the registry: refused, cut off, out of trust.json", () => {
    const h = harness();
    h.trust.onEvent({ type: "handshake_approved", seq: 1, node_id: 7, target: "7", mutual: false, network: 0, expires_at: h.clock.in(HOUR) });
    expect(h.file().trusted).toEqual([expect.objectContaining({ node_id: 7, expires_at: h.clock.in(HOUR) })]);
    h.clock.advance(HOUR - 1);
    expect(h.access.allows(7)).toBe(true);
    expect(h.cut).toEqual([]);
    h.clock.advance(1);
    expect(h.access.allows(7)).toBe(false);
    expect(h.cut).toEqual([7]);
    expect(h.why).toEqual(["trust expired"]);
    expect(ids(h.file())).toEqual([]);
    expect(h.clock.pending()).toEqual([]);
  });

  it("is refused from its expiry even when the alarm has not run (a machine that slept through it)", () => {
    const h = harness();
    h.trust.onEvent({ type: "handshake_approved", seq: 1, node_id: 7, target: "7", mutual: false, network: 0, expires_at: h.clock.in(HOUR) });
    h.clock.skip(HOUR);
    expect(h.access.allows(7)).toBe(false);
    expect(h.access.related(7)).toBe(false);
    expect(h.access.trusted()).toEqual([]);
    // The late alarm still tidies up and cuts the peer off.
    h.clock.advance(0);
    expect(h.cut).toEqual([7]);
  });

  it("keeps a peer a network still lets in, as untrust does", () => {
    const h = harness();
    h.access.syncNetwork(1, [7], OPEN);
    h.trust.onEvent({ type: "handshake_approved", seq: 1, node_id: 7, target: "7", mutual: false, network: 0, expires_at: h.clock.in(HOUR) });
    h.clock.advance(HOUR);
    expect(h.access.allows(7)).toBe(true);
    expect(h.cut).toEqual([]);
    expect(ids(h.file())).toEqual([]);
  });

  it("takes each end from the registry's list, earliest first, and leaves trust without end alone", async () => {
    const h = harness();
    const syncing = h.trust.sync();
    await h.answer([peer(3, h.clock.in(2 * HOUR)), peer(4, h.clock.in(HOUR)), peer(5)]);
    await syncing;
    h.clock.advance(HOUR);
    expect(h.cut).toEqual([4]);
    h.clock.advance(HOUR);
    expect(h.cut).toEqual([4, 3]);
    expect(ids(h.file())).toEqual([5]);
    expect(h.access.trusted()).toEqual([5]);
  });

  it("drops at start-up the trust that ended while the daemon was stopped, and keeps the rest with their ends", async () => {
    const h = harness();
    const syncing = h.trust.sync();
    await h.answer([peer(3, h.clock.in(HOUR)), peer(4, h.clock.in(3 * HOUR)), peer(5)]);
    await syncing;
    h.trust.close();
    h.clock.skip(2 * HOUR);
    const access = new AccessList(undefined, undefined, h.clock.now);
    const again = new Trust(h.paths.trust, { ...h.host, access });
    expect(ids(h.file())).toEqual([4, 5]);
    expect(access.trusted()).toEqual([4, 5]);
    h.clock.advance(HOUR);
    expect(access.trusted()).toEqual([5]);
    again.close();
  });

  it("reads a trust.json from before trust could end as trust without end", () => {
    const h = harness();
    writeFileSync(h.paths.trust, JSON.stringify({ version: 1, trusted: [{ node_id: 8, mutual: false, network: 0, approved_at: "2026-01-01T00:00:00.000Z" }], pending: [], outgoing: [] }));
    const access = new AccessList(undefined, undefined, h.clock.now);
    new Trust(h.paths.trust, { ...h.host, access }).close();
    h.clock.skip(1000 * HOUR);
    expect(access.trusted()).toEqual([8]);
  });

  it("refuses a trust.json whose expiry is not a time, rather than guess", () => {
    const h = harness();
    writeFileSync(h.paths.trust, JSON.stringify({ version: 1, trusted: [{ ...peer(8), expires_at: "tomorrow" }], pending: [], outgoing: [] }));
    expect(() => new Trust(h.paths.trust, h.host)).toThrow(expect.objectContaining({ code: "corrupt_file" }));
  });

  it("says the trust expired when the registry's revocation says so", () => {
    const h = harness();
    h.trust.onEvent({ type: "handshake_approved", seq: 1, node_id: 7, target: "7", mutual: false, network: 0, expires_at: h.clock.in(HOUR) });
    h.trust.onEvent({ type: "trust_revoked", seq: 2, node_id: 7, reason: "expired" });
    expect(h.why).toEqual(["trust expired"]);
  });
});

describe("pilotctl's --ttl", () => {
  it.each([
    ["30s", 30],
    ["90m", 5400],
    ["24h", 86_400],
    ["7d", 604_800],
    ["365d", 31_536_000],
  ])("reads %s as %i seconds", (text, seconds) => {
    expect(duration({ ttl: text })).toBe(seconds);
  });

  it("is absent when not given: trust without end", () => {
    expect(duration({})).toBeUndefined();
  });

  it.each(["0s", "0d", "10", "10x", "1.5h", "366d", "8761h", "1e3s", "-5m", "+5m", " 5m", "5 m", "5M", "", "9999999999s"])("refuses %j as a usage error", (text) => {
    expect(() => duration({ ttl: text })).toThrow(UsageError);
  });
});

describe("pilotctl trust in words", () => {
  const human = TRUST_COMMANDS.find((c) => c.name === "trust")!.human as (data: { trusted: TrustedPeer[] }) => string;

  it("says when each trust ends, or that it has no end", () => {
    const text = human({ trusted: [peer(4, "2026-12-02T00:00:00.000Z"), { ...peer(5), network: 3 }] });
    expect(text.split("\n")).toEqual([
      "node 4 · approved · since 1970-01-01T00:00:00.000Z · expires 2026-12-02T00:00:00.000Z",
      "node 5 · through network 3 · since 1970-01-01T00:00:00.000Z · no expiry",
    ]);
    expect(human({ trusted: [] })).toBe("no trusted peers");
  });
});

describe("trust that ends while a network still relates the peer", () => {
  const HOUR = 3_600_000;
  it("keeps the peer, but has what only the trust opened re-judged (an attack before the fix: a port-22 stream outlived the trust)", () => {
    const h = harness();
    // A network whose policy lets 7 reach port 80 only; trust opened every port (22 included).
    const only80 = { revision: 1, self_tagging: false, rules: [{ from: "*", to: "*", ports: [80], protocols: ["stream" as const] }], tags: {} };
    h.access.syncNetwork(1, [7], only80);
    h.trust.onEvent({ type: "handshake_approved", seq: 1, node_id: 7, target: "7", mutual: false, network: 0, expires_at: h.clock.in(HOUR) });
    expect(h.access.allows(7, 22, "stream")).toBe(true);
    h.clock.advance(HOUR);
    expect(h.access.allows(7, 22, "stream")).toBe(false);
    expect(h.cut).toEqual([]);
    expect(h.rejudged).toEqual([7]);
    // An untrust does the same.
    h.trust.onEvent({ type: "handshake_approved", seq: 2, node_id: 7, target: "7", mutual: false, network: 0, expires_at: null });
    h.trust.onEvent({ type: "trust_revoked", seq: 3, node_id: 7 });
    expect(h.rejudged).toEqual([7, 7]);
  });
});
