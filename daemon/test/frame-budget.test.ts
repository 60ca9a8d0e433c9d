/**
 * The memory the built-in services set aside for frames being gathered: per peer and in all,
 * granted in order, and never held up by one peer's full share.
 */
import { describe, expect, it } from "vitest";
import { FrameBudget } from "../src/services/frame-budget.ts";

/** Reserves, and records when the grant comes. */
function ask(budget: FrameBudget, peer: number, n: number, granted: string[], name: string) {
  return budget.reserve(peer, n).then(() => void granted.push(name));
}

const turn = () => new Promise((r) => setImmediate(r));

describe("the frame budget", () => {
  it("grants what fits at once, and holds the rest until memory is given back, in order", async () => {
    const budget = new FrameBudget({ total: 100, perPeer: 60 });
    const granted: string[] = [];
    await ask(budget, 1, 50, granted, "a");
    await ask(budget, 2, 40, granted, "b");
    void ask(budget, 3, 30, granted, "c");
    void ask(budget, 4, 5, granted, "d");
    await turn();
    // d would fit, but c came first and waits for the total: d waits behind it, or c could starve.
    expect(granted).toEqual(["a", "b"]);
    expect(budget.used).toBe(90);
    budget.release(1, 50);
    await turn();
    expect(granted).toEqual(["a", "b", "c", "d"]);
    expect(budget.used).toBe(75);
  });

  it("lets others pass a peer that waits only for its own share", async () => {
    const budget = new FrameBudget({ total: 100, perPeer: 40 });
    const granted: string[] = [];
    await ask(budget, 1, 40, granted, "a1");
    void ask(budget, 1, 10, granted, "a2");
    void ask(budget, 2, 30, granted, "b");
    await turn();
    expect(granted).toEqual(["a1", "b"]);
    budget.release(1, 40);
    await turn();
    expect(granted).toEqual(["a1", "b", "a2"]);
  });

  it("refuses a request larger than a peer's share, which could never be granted", () => {
    const budget = new FrameBudget({ total: 100, perPeer: 40 });
    expect(() => budget.reserve(1, 41)).toThrow(RangeError);
    expect(budget.used).toBe(0);
  });
});
