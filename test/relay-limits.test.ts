/** The relay's budgets (worker/relay/limits.ts) as arithmetic, with time passed in. */
import { describe, expect, it } from "vitest";
import { InboundShare } from "../worker/relay/inbound-share.ts";
import { INBOUND_BATCHES_PER_WINDOW, INBOUND_BYTES_PER_WINDOW, INBOUND_WINDOW_MS } from "../worker/relay/limits.ts";
import { TokenBucket } from "../protocol/src/token-bucket.ts";

describe("a token bucket", () => {
  it("starts full, and refills at its rate up to its capacity", () => {
    const bucket = new TokenBucket(10, 5);
    expect(bucket.take(10, 0)).toBe(true);
    expect(bucket.take(1, 0)).toBe(false);
    expect(bucket.take(1, 100)).toBe(false); // half a token
    expect(bucket.take(1, 200)).toBe(true);
    expect(bucket.holds(10, 10_000)).toBe(true);
    expect(bucket.holds(10.5, 20_000)).toBe(false);
  });

  it("says how long until a cost is there, spent past zero included (the daemon paces its relay messages by it)", () => {
    const bucket = new TokenBucket(2, 500);
    expect(bucket.waitMs(1, 0)).toBe(0);
    bucket.spend(3); // one below zero: a message cut short by its size went anyway
    expect(bucket.waitMs(1, 0)).toBe(4); // two tokens at 500 a second
    expect(bucket.waitMs(1, 4)).toBe(0);
  });

  it("takes nothing it refuses, and only what it is told to spend", () => {
    const bucket = new TokenBucket(10, 1);
    expect(bucket.take(11, 0)).toBe(false);
    expect(bucket.holds(10, 0)).toBe(true);
    bucket.spend(4);
    expect(bucket.holds(6, 0)).toBe(true);
    expect(bucket.holds(7, 0)).toBe(false);
  });

  it("does not run backwards when time does", () => {
    const bucket = new TokenBucket(10, 10);
    expect(bucket.take(10, 1_000)).toBe(true);
    expect(bucket.take(1, 500)).toBe(false);
    expect(bucket.take(1, 1_100)).toBe(true);
  });
});

describe("a node's inbound share", () => {
  const B = INBOUND_BYTES_PER_WINDOW;

  it("lets batches through as they come while the window is within budget", () => {
    const share = new InboundShare();
    expect(share.admit(1, B / 2, 0)).toBe(true);
    expect(share.admit(2, B / 2, 1)).toBe(true);
  });

  it("cuts a sender over its fair share once the window is over budget, and still lets a newcomer have its share", () => {
    const share = new InboundShare();
    expect(share.admit(1, B, 0)).toBe(true); // the whole budget, while no one else wanted any
    expect(share.admit(1, 1, 1)).toBe(false); // over budget, and over its share
    expect(share.admit(2, B / 2, 2)).toBe(true); // a newcomer: half, now that two are active
    expect(share.admit(2, 1, 3)).toBe(false);
    expect(share.admit(1, 1, 4)).toBe(false);
  });

  it("keeps a window's total under twice the budget however many senders arrive", () => {
    const share = new InboundShare();
    let admitted = 0;
    for (let sender = 1; sender <= 1_000; sender++) {
      while (share.admit(sender, 64 * 1024, 0)) admitted += 64 * 1024;
    }
    expect(admitted).toBeGreaterThan(B);
    expect(admitted).toBeLessThanOrEqual(2 * B);
  });

  it("counts batches as well as bytes", () => {
    const share = new InboundShare();
    let batches = 0;
    while (share.admit(1, 1, 0)) batches++;
    expect(batches).toBe(INBOUND_BATCHES_PER_WINDOW);
  });

  it("starts every window afresh", () => {
    const share = new InboundShare();
    expect(share.admit(1, B, 0)).toBe(true);
    expect(share.admit(1, 1, INBOUND_WINDOW_MS - 1)).toBe(false);
    expect(share.admit(1, B, INBOUND_WINDOW_MS)).toBe(true);
  });
});
