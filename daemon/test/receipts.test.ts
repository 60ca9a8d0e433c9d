/**
 * Revocation receipts as the daemon sends them, against a scripted registry: only cut-offs the
 * daemon has done are confirmed, each with a time no earlier than the cut, passes run one after
 * another, and an answer about a receipt itself is not retried while a registry that is down is.
 */
import { describe, expect, it } from "vitest";
import type { PendingCut, ReceiptRecorded } from "@pilot/protocol";
import { Receipts } from "../src/agent/receipts.ts";
import { RegistryError } from "../src/registry-client.ts";

const cut = (n: number, peer: number): PendingCut => ({ revocation_id: `rv_${String(n).padStart(22, "A")}`, kind: "removed", network_id: 5, peer });

function harness(pending: PendingCut[]) {
  const sent: { cut: PendingCut; node: number; cutAt: string }[] = [];
  const done = new Set<number>();
  let reads = 0;
  let failNext: unknown;
  const logs: string[] = [];
  const receipts = new Receipts({
    registry: {
      pendingCuts: async () => {
        reads++;
        await new Promise((r) => setImmediate(r));
        return pending.filter((c) => !sent.some((s) => s.cut === c));
      },
      confirmCut: async (c, node, cutAt): Promise<ReceiptRecorded> => {
        if (failNext) {
          const e = failNext;
          failNext = undefined;
          throw e;
        }
        sent.push({ cut: c, node, cutAt });
        return { revocation_id: c.revocation_id, result: "recorded" };
      },
    },
    nodeId: () => 9,
    done: (c) => done.has(c.peer),
    log: (line) => logs.push(line),
  });
  return { receipts, sent, done, logs, reads: () => reads, fail: (e: unknown) => (failNext = e) };
}

describe("receipts", () => {
  it("confirms only what is done, as this node, with a time taken after the cut", async () => {
    const h = harness([cut(1, 7), cut(2, 8)]);
    h.done.add(7);
    const before = new Date().toISOString();
    await h.receipts.confirm();
    expect(h.sent.map((s) => [s.cut.peer, s.node])).toEqual([[7, 9]]);
    expect(h.sent[0]!.cutAt >= before).toBe(true);
    h.done.add(8);
    await h.receipts.confirm();
    expect(h.sent.map((s) => s.cut.peer)).toEqual([7, 8]);
  });

  it("runs a pass asked for during another after it, and joins further asks to it", async () => {
    const h = harness([cut(1, 7)]);
    const first = h.receipts.confirm();
    // The first pass is reading the list now.
    await Promise.resolve();
    const second = h.receipts.confirm();
    expect(second).not.toBe(first);
    expect(h.receipts.confirm()).toBe(second);
    // The cut is made while the first pass reads the list: the second pass, after it, confirms it.
    h.done.add(7);
    await Promise.all([first, second]);
    expect(h.reads()).toBe(2);
    expect(h.sent.map((s) => s.cut.peer)).toEqual([7]);
  });

  it("skips a receipt the registry refuses, and fails the pass when the registry cannot be reached", async () => {
    const h = harness([cut(1, 7), cut(2, 8)]);
    h.done.add(7).add(8);
    h.fail(new RegistryError(404, "revocation_not_found", "no revocation", ""));
    await h.receipts.confirm();
    expect(h.sent.map((s) => s.cut.peer)).toEqual([8]);
    expect(h.logs.join("\n")).toContain("refused the receipt");
    const down = harness([cut(3, 7)]);
    down.done.add(7);
    down.fail(new RegistryError(0, "unreachable", "cannot reach the registry", ""));
    await expect(down.receipts.confirm()).rejects.toThrow("cannot reach");
    await down.receipts.confirm();
    expect(down.sent.map((s) => s.cut.peer)).toEqual([7]);
  });
});
