/** The load driver's own logic: what a simulated agent's channel counts as heard, lost or malformed. */
import { describe, expect, it } from "vitest";
import { formatAddress, type PushEvent } from "@pilot/protocol";
import { ChannelLog } from "./agent.ts";
import { ChangeKeys } from "./load.ts";
import { inPool } from "./stage.ts";

const NETWORK = 7;
const hello = (revision: number): PushEvent => ({
  type: "hello",
  network_id: NETWORK,
  node_id: 1,
  revision,
  policy: { revision: 0, self_tagging: false, rules: [], tags: {} },
});
const added = (revision: number, node: number): PushEvent => ({
  type: "member_added",
  network_id: NETWORK,
  revision,
  member: {
    node_id: node,
    address: formatAddress({ network: NETWORK, node }),
    hostname: null,
    online: false,
    endpoint: null,
    lan_addrs: [],
    capabilities: [],
    joined_at: new Date(0).toISOString(),
    tags: [],
    requested_tags: [],
    effective_tags: [],
  },
});
const removed = (revision: number, node: number): PushEvent => ({ type: "member_removed", network_id: NETWORK, revision, node_id: node, reason: "left" });

function logOf(...events: (PushEvent | string)[]): ChannelLog {
  const log = new ChannelLog();
  events.forEach((e, i) => log.receive(typeof e === "string" ? e : JSON.stringify(e), i));
  return log;
}

describe("ChannelLog", () => {
  it("follows the revision from the greeting through each change, in order", () => {
    const log = logOf(hello(4), added(5, 20), removed(6, 20), added(7, 21));
    expect(log.revision).toBe(7);
    expect(log.gaps).toEqual([]);
    expect(log.heard.map((h) => [h.change, h.nodeId, h.revision, h.at])).toEqual([
      ["added", 20, 5, 1],
      ["removed", 20, 6, 2],
      ["added", 21, 7, 3],
    ]);
  });

  it("records a skipped revision as a gap: an event lost", () => {
    const log = logOf(hello(4), added(5, 20), added(7, 21));
    expect(log.gaps).toEqual([[6, 7]]);
    expect(log.revision).toBe(7);
  });

  it("records a repeated or older revision as a gap too", () => {
    expect(logOf(hello(4), added(5, 20), added(5, 20)).gaps).toEqual([[6, 5]]);
    expect(logOf(hello(4), removed(3, 20)).gaps).toEqual([[5, 3]]);
  });

  it("counts other events without checking them, and what it cannot count as malformed", () => {
    const log = logOf(
      hello(1),
      JSON.stringify({ type: "presence", network_id: NETWORK, node_id: 3, online: true }),
      JSON.stringify({ type: "network_deleted", network_id: NETWORK }),
      "not json",
      JSON.stringify({ no: "type" }),
      JSON.stringify({ type: "member_added", network_id: NETWORK, revision: 2 }),
      JSON.stringify({ type: "member_removed", network_id: NETWORK, revision: "2", node_id: 3 }),
      JSON.stringify({ type: "hello", revision: 9 }),
    );
    expect({ other: log.other, malformed: log.malformed, heard: log.heard.length, revision: log.revision }).toEqual({ other: 2, malformed: 5, heard: 0, revision: 1 });
  });

  it("hands each membership change to a waiting measure as it arrives", () => {
    const log = new ChannelLog();
    const seen: number[] = [];
    log.onChange = (h) => seen.push(h.nodeId);
    for (const e of [hello(0), added(1, 30), removed(2, 31)]) log.receive(JSON.stringify(e), 0);
    expect(seen).toEqual([30, 31]);
  });
});

describe("ChangeKeys", () => {
  it("numbers each node's changes of each kind, so the driver's n-th matches a channel's n-th", () => {
    const keys = new ChangeKeys();
    expect([keys.next("removed", 5), keys.next("added", 5), keys.next("removed", 5), keys.next("removed", 6)]).toEqual(["removed:5:1", "added:5:1", "removed:5:2", "removed:6:1"]);
  });
});

describe("inPool", () => {
  it("runs every task, no more than the limit at once, and keeps the results in order", async () => {
    let running = 0;
    let most = 0;
    const results = await inPool([5, 1, 4, 2, 3], 2, async (n, i) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return `${i}:${n}`;
    });
    expect(results).toEqual(["0:5", "1:1", "2:4", "3:2", "4:3"]);
    expect(most).toBe(2);
  });
});
