/**
 * CUBIC (RFC 9438), driven by scripted sequences of deliveries and losses: the window after a
 * loss, the cubic curve back to the window of the loss and beyond, its independence from the round
 * trip, the Reno-friendly region, fast convergence, timeouts, and no growth while the program
 * limits the flight or during a loss episode.
 */
import { describe, expect, it } from "vitest";
import { BETA, C, Cubic } from "../src/dataplane/stream/congestion.ts";

const MSS = 1000;
/** The segments a window of W_max = 1000 segments takes to return after a loss: K = ∛(W_max·(1 − β)/C), seconds. */
const K = Math.cbrt((1000 * (1 - BETA)) / C);

/**
 * A window-limited sender from `from` to `until` (ms): every round trip the whole window arrives,
 * a segment at a time, spread evenly, each segment sent one round trip before it arrives, and each
 * arrival freeing room that new data fills at once. Returns when it stopped.
 */
function drive(cc: Cubic, rttMs: number, from: number, until: number): number {
  let now = from;
  while (now < until) {
    const segments = Math.max(1, Math.floor(cc.cwnd / MSS));
    for (let i = 0; i < segments && now < until; i++) {
      now += rttMs / segments;
      cc.onDelivered(MSS, now - rttMs, cc.cwnd - MSS, now, rttMs);
    }
  }
  return now;
}

/** A connection that slow-started to `segments` and then lost a segment at time 0. */
function afterLoss(segments: number, mss: () => number = () => MSS): Cubic {
  const cc = new Cubic(mss);
  cc.onDelivered(segments * MSS - cc.cwnd, -1, cc.cwnd, -1, 0);
  expect(cc.cwnd).toBe(segments * MSS);
  expect(cc.onLoss(-1, 0)).toBe(true);
  return cc;
}

/** The window in segments, after driving to `until` seconds after the loss. */
const windowAt = (cc: Cubic, rttMs: number, from: number, untilSeconds: number) => (drive(cc, rttMs, from, untilSeconds * 1000), cc.cwnd / MSS);

/** CUBIC's curve for a plateau of `wMax` segments reached at `k` seconds, at `t` seconds. */
const curve = (t: number, wMax = 1000, k = K) => wMax + C * (t - k) ** 3;

describe("Cubic", () => {
  it("starts with the initial window of RFC 6928, and lets a segment go while the window has room, or when nothing is in flight", () => {
    expect(new Cubic(() => 1000).cwnd).toBe(10_000);
    expect(new Cubic(() => 1401).cwnd).toBe(14_010);
    expect(new Cubic(() => 1460).cwnd).toBe(14_600);
    expect(new Cubic(() => 65_436).cwnd).toBe(2 * 65_436);
    const cc = new Cubic(() => 1000);
    expect(cc.ssthresh).toBe(Infinity);
    expect(cc.canSend(9000, 1000)).toBe(true);
    expect(cc.canSend(9001, 1000)).toBe(false);
    expect(cc.canSend(0, 50_000)).toBe(true);
  });

  it("grows by the bytes delivered in slow start, but not when the program limits the flight", () => {
    const cc = new Cubic(() => MSS);
    cc.onDelivered(1000, 0, 9000, 1, 10);
    expect(cc.cwnd).toBe(11_000);
    cc.onDelivered(1000, 0, 2000, 2, 10); // 2,000 + 1,000 in flight is under half the window: not the limit
    expect(cc.cwnd).toBe(11_000);
  });

  it("keeps 70 % of the window at a loss, once per loss episode, and grows from nothing sent before the episode began", () => {
    const cc = new Cubic(() => MSS);
    expect(cc.onLoss(5, 10)).toBe(true);
    expect([cc.cwnd, cc.ssthresh]).toEqual([7000, 7000]);
    expect(cc.onLoss(8, 12)).toBe(false);
    expect(cc.onLoss(10, 12)).toBe(false);
    cc.onDelivered(3000, 9, 7000, 20, 10);
    cc.onDelivered(3000, 10, 7000, 21, 10);
    expect(cc.cwnd).toBe(7000);
    cc.onDelivered(1000, 11, 7000, 22, 10);
    const grown = cc.cwnd;
    expect(grown).toBeGreaterThan(7000);
    expect(cc.onLoss(11, 30)).toBe(true);
    expect(cc.cwnd).toBeCloseTo(grown * BETA, 6);
    cc.onLoss(31, 40);
    cc.onLoss(41, 50);
    cc.onLoss(51, 60);
    expect([cc.cwnd, cc.ssthresh]).toEqual([2000, 2000]); // never below two segments
  });

  it("returns to the window of the loss along a concave curve that reaches it at K, then probes beyond it along a convex one", () => {
    const cc = afterLoss(1000);
    expect([cc.cwnd, cc.ssthresh]).toEqual([700_000, 700_000]);
    const rtt = 50;
    const at = [0, 3, K / 2, K, K + 3, K + 6];
    const w = [700];
    let now = rtt;
    for (const t of at.slice(1)) {
      now = drive(cc, rtt, now, t * 1000);
      w.push(cc.cwnd / MSS);
    }
    // On the curve, within a percent (the window aims a round trip ahead, and grows per arrival).
    for (const [i, t] of at.entries()) expect(w[i]! / curve(t)).toBeCloseTo(1, 1.7);
    const [, , half, k, k3, k6] = w as [number, number, number, number, number, number];
    expect(k / 1000).toBeCloseTo(1, 2);
    // Concave below the plateau: the first half of the way back gains more than the second.
    expect(half - 700).toBeGreaterThan(2 * (k - half));
    // Convex beyond it: each stretch gains more than the one before.
    expect(k6 - k3).toBeGreaterThan(2 * (k3 - k));
    expect(k3).toBeGreaterThan(1000);
  });

  it("grows with the time since the loss, not with the number of round trips", () => {
    const short = windowAt(afterLoss(1000), 20, 20, 6);
    const long = windowAt(afterLoss(1000), 100, 100, 6);
    expect(short / long).toBeCloseTo(1, 2);
    expect(long / curve(6)).toBeCloseTo(1, 2);
    // Reno's one segment per round trip would have been five times as much growth on the shorter one.
    expect(long - 700).toBeGreaterThan(250);
  });

  it("follows Reno's estimate where Reno would grow faster: a small window on a short round trip", () => {
    const w = windowAt(afterLoss(20), 10, 10, 1);
    // After 100 round trips: 0.53 of a segment each until the window of the loss (14 → 20, about
    // 11 of them), then a segment each. The curve alone would still be below 20.
    expect(curve(1, 20, Math.cbrt((20 * (1 - BETA)) / C))).toBeLessThan(19);
    expect(w).toBeGreaterThan(100);
    expect(w).toBeLessThan(112);
  });

  it("plateaus lower after a loss below the last plateau (fast convergence)", () => {
    const cc = afterLoss(1000);
    let now = 50;
    while (cc.cwnd < 800 * MSS) now = drive(cc, 50, now, now + 50);
    const lost = cc.cwnd / MSS;
    cc.onLoss(now - 1, now);
    expect(cc.cwnd / MSS).toBeCloseTo(lost * BETA, 6);
    // The new plateau is halfway between the reduced window and the window of the loss: (1 + β)/2.
    const plateau = (lost * (1 + BETA)) / 2;
    const k = Math.cbrt((plateau - lost * BETA) / C);
    expect(windowAt(cc, 50, now + 50, now / 1000 + k) / plateau).toBeCloseTo(1, 2);
  });

  it("does not count the time the program limited the flight", () => {
    const cc = afterLoss(1000);
    const before = windowAt(cc, 50, 50, 2);
    for (let now = 2000; now < 7000; now += 10) cc.onDelivered(MSS, now - 50, 10 * MSS, now, 50);
    expect(cc.cwnd / MSS).toBe(before);
    // Once the window limits again the curve goes on from where it stood: it reaches the plateau
    // K after the loss, not counting the 5 s pause (counted, the window would be 50 segments past it).
    expect(windowAt(cc, 50, 7000, 5 + K) / 1000).toBeCloseTo(1, 2);
  });

  it("drops to one segment at a timeout, keeps 70 % of the flight as the threshold, and then has no plateau from before", () => {
    const cc = afterLoss(1000);
    drive(cc, 100, 100, 1000);
    cc.onTimeout(1_000_000, 1000);
    expect([cc.cwnd, cc.ssthresh]).toEqual([MSS, 700_000]);
    expect(cc.onLoss(900, 1010)).toBe(false); // sent before the timeout
    cc.onDelivered(5000, 999, MSS, 1020, 100);
    expect(cc.cwnd).toBe(MSS);
    // Slow start up to the threshold, then a curve that starts flat there (K = 0) and only speeds
    // up: 8 s on, it stands near 700 + 0.4·8³ = 905 segments, where a plateau at the old
    // 1000-segment window would have held it just under 1000.
    cc.onDelivered(699_000, 1001, MSS, 1100, 100);
    expect(cc.cwnd).toBe(700_000);
    const w = [4, 8].map((t) => windowAt(cc, 100, 1100 + (t - 4) * 1000, 1.1 + t));
    expect(w[1]! / curve(8, 700, 0)).toBeCloseTo(1, 1.7);
    expect(w[1]! - w[0]!).toBeGreaterThan(w[0]! - 700);
    const again = new Cubic(() => MSS);
    again.onTimeout(1000, 10);
    expect(again.ssthresh).toBe(2000);
  });

  it("brings back the state before a timeout proved spurious, but not once a loss has followed it", () => {
    const cc = afterLoss(1000);
    drive(cc, 100, 100, 1000);
    const [cwnd, ssthresh] = [cc.cwnd, cc.ssthresh];
    cc.onTimeout(cwnd, 1000);
    cc.undoTimeout();
    expect([cc.cwnd, cc.ssthresh]).toEqual([cwnd, ssthresh]);
    // The curve goes on as if nothing had happened: the same window as a twin that never timed out.
    const twin = afterLoss(1000);
    drive(twin, 100, 100, 1000);
    expect(windowAt(cc, 100, 1000, 3)).toBe(windowAt(twin, 100, 1000, 3));
    // A loss after the timeout is congestion: nothing is undone then.
    cc.onTimeout(cc.cwnd, 3000);
    cc.onLoss(3001, 3100);
    cc.undoTimeout();
    expect(cc.cwnd).toBe(2 * MSS);
  });

  it("forgets a timeout judged real, so that undoing a later one brings back only what was before that one", () => {
    const cc = afterLoss(1000);
    drive(cc, 100, 100, 1000);
    cc.onTimeout(cc.cwnd, 1000);
    cc.keepTimeout();
    cc.onDelivered(19 * MSS, 1001, MSS, 1100, 100);
    const [cwnd, ssthresh] = [cc.cwnd, cc.ssthresh];
    expect(cwnd).toBe(20 * MSS);
    cc.onTimeout(cwnd, 2000);
    cc.undoTimeout();
    expect([cc.cwnd, cc.ssthresh]).toEqual([cwnd, ssthresh]);
  });

  it("reads the segment size at each call, as path MTU discovery may change it", () => {
    let mss = 1000;
    const cc = new Cubic(() => mss);
    mss = 9000;
    expect(cc.cwnd).toBe(10_000);
    cc.onLoss(0, 10);
    expect([cc.cwnd, cc.ssthresh]).toEqual([18_000, 18_000]);
    cc.onTimeout(0, 20);
    expect(cc.cwnd).toBe(9000);
  });
});
