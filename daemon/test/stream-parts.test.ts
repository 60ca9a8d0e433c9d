/** The pure pieces under the stream engine: sequence arithmetic, the send queue, the RTT estimator, timers, the payload format. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ByteQueue } from "../src/dataplane/stream/byte-queue.ts";
import { Deadline } from "../src/dataplane/stream/deadline.ts";
import { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS, RttEstimator } from "../src/dataplane/stream/rtt.ts";
import { seqAdd, seqDiff, seqLt, seqLte } from "../src/dataplane/stream/seq.ts";
import { MAX_SACK_BLOCKS, parseSegment, sackHeader } from "../src/wire/segment.ts";

describe("sequence numbers", () => {
  it("add modulo 2^32", () => {
    expect(seqAdd(0xffff_ffff, 1)).toBe(0);
    expect(seqAdd(0xffff_fff0, 0x20)).toBe(0x10);
    expect(seqAdd(5, -10)).toBe(0xffff_fffb);
    expect(seqAdd(0, 0)).toBe(0);
  });

  it("compare across wraparound", () => {
    const nearTop = 0xffff_fff0;
    const wrapped = seqAdd(nearTop, 0x20); // 0x10
    expect(seqDiff(wrapped, nearTop)).toBe(0x20);
    expect(seqDiff(nearTop, wrapped)).toBe(-0x20);
    expect(seqLt(nearTop, wrapped)).toBe(true);
    expect(seqLt(wrapped, nearTop)).toBe(false);
    expect(seqLte(nearTop, wrapped)).toBe(true);
    expect(seqLte(wrapped, wrapped)).toBe(true);
    expect(seqLt(wrapped, wrapped)).toBe(false);
    // Without wraparound the plain order holds.
    expect(seqLt(1000, 2000)).toBe(true);
    expect(seqLt(2000, 1000)).toBe(false);
  });

  it("treat anything within half the space ahead as later", () => {
    expect(seqLt(0, 0x7fff_ffff)).toBe(true);
    expect(seqLt(0, 0x8000_0001)).toBe(false); // more than 2^31 ahead reads as behind
    expect(seqLt(0x8000_0001, 0)).toBe(true);
    expect(seqDiff(seqAdd(123_456, 0x7fff_ffff), 123_456)).toBe(0x7fff_ffff);
  });
});

describe("ByteQueue", () => {
  const queue = (...parts: string[]) => {
    const q = new ByteQueue();
    for (const p of parts) q.push(Buffer.from(p));
    return q;
  };

  it("counts what it holds and ignores empty chunks", () => {
    const q = queue("abc", "", "defg");
    expect(q.length).toBe(7);
    q.push(Buffer.alloc(0));
    expect(q.length).toBe(7);
  });

  it("slices within one chunk without copying", () => {
    const chunk = Buffer.from("hello world");
    const q = new ByteQueue();
    q.push(chunk);
    const s = q.slice(6, 5);
    expect(s.toString()).toBe("world");
    expect(s.buffer).toBe(chunk.buffer);
    expect(s.byteOffset).toBe(chunk.byteOffset + 6);
  });

  it("slices across two and more chunks", () => {
    const q = queue("abc", "defg", "hij", "k");
    expect(q.slice(2, 3).toString()).toBe("cde");
    expect(q.slice(1, 9).toString()).toBe("bcdefghij");
    expect(q.slice(0, 11).toString()).toBe("abcdefghijk");
    expect(q.slice(3, 4).toString()).toBe("defg");
    expect(q.slice(10, 1).toString()).toBe("k");
  });

  it("drops from the front, mid-chunk and across chunks, and slices from the new front", () => {
    const q = queue("abc", "defg", "hij");
    q.drop(1);
    expect(q.length).toBe(9);
    expect(q.slice(0, 2).toString()).toBe("bc");
    expect(q.slice(0, 9).toString()).toBe("bcdefghij");
    q.drop(4); // "bc" and "de"
    expect(q.length).toBe(5);
    expect(q.slice(0, 5).toString()).toBe("fghij");
    expect(q.slice(1, 3).toString()).toBe("ghi");
    q.drop(2); // exactly to a chunk boundary
    expect(q.length).toBe(3);
    expect(q.slice(0, 3).toString()).toBe("hij");
    q.push(Buffer.from("xyz"));
    expect(q.slice(2, 3).toString()).toBe("jxy");
    q.drop(6);
    expect(q.length).toBe(0);
    q.push(Buffer.from("new"));
    expect(q.slice(0, 3).toString()).toBe("new");
  });

  it("keeps bytes straight over many pushes and drops", () => {
    const all = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const q = new ByteQueue();
    let pushed = 0;
    let dropped = 0;
    let step = 1;
    while (dropped < all.length) {
      const n = Math.min((step * 37) % 211 + 1, all.length - pushed);
      if (n > 0) q.push(all.subarray(pushed, pushed + n));
      pushed += n;
      const window = Math.min(q.length, (step * 53) % 97 + 1);
      if (window > 0) expect(q.slice(0, window).equals(all.subarray(dropped, dropped + window))).toBe(true);
      const d = Math.min(q.length, (step * 29) % 150);
      q.drop(d);
      dropped += d;
      expect(q.length).toBe(pushed - dropped);
      if (pushed === all.length && q.length > 0) {
        q.drop(q.length);
        dropped = pushed;
      }
      step++;
    }
    expect(q.length).toBe(0);
  });
});

describe("RttEstimator (RFC 6298)", () => {
  it("uses 1 s before any sample", () => {
    const r = new RttEstimator();
    expect(r.hasSample).toBe(false);
    expect(r.rto).toBe(INITIAL_RTO_MS);
    expect(INITIAL_RTO_MS).toBe(1000);
  });

  it("sets SRTT = R and RTTVAR = R/2 on the first sample", () => {
    const r = new RttEstimator();
    r.sample(100);
    expect(r.hasSample).toBe(true);
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    expect(r.latest).toBe(100);
    expect(r.rto).toBe(100 + 4 * 50);
  });

  it("smooths later samples with alpha 1/8 and beta 1/4, RTTVAR first", () => {
    const r = new RttEstimator();
    r.sample(100);
    r.sample(200);
    // RTTVAR uses the old SRTT: 0.75·50 + 0.25·|100 − 200| = 62.5; SRTT = 0.875·100 + 0.125·200 = 112.5.
    expect(r.rttvar).toBeCloseTo(62.5, 10);
    expect(r.srtt).toBeCloseTo(112.5, 10);
    expect(r.rto).toBeCloseTo(112.5 + 4 * 62.5, 10);
    r.sample(40);
    expect(r.rttvar).toBeCloseTo(0.75 * 62.5 + 0.25 * Math.abs(112.5 - 40), 10);
    expect(r.srtt).toBeCloseTo(0.875 * 112.5 + 0.125 * 40, 10);
    expect(r.latest).toBe(40);
  });

  it("never goes below the floor, even for tiny or zero samples", () => {
    const r = new RttEstimator();
    r.sample(0);
    expect(r.srtt).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) r.sample(0.2);
    expect(r.rto).toBe(MIN_RTO_MS);
  });

  it("doubles on each backoff up to the cap, and resets", () => {
    const r = new RttEstimator();
    r.sample(100); // RTO 300
    r.backOff();
    expect(r.rto).toBe(600);
    r.backOff();
    expect(r.rto).toBe(1200);
    for (let i = 0; i < 30; i++) r.backOff();
    expect(r.rto).toBe(MAX_RTO_MS);
    r.resetBackoff();
    expect(r.rto).toBe(300);
  });

  it("backs off the initial timeout too", () => {
    const r = new RttEstimator();
    r.backOff();
    expect(r.rto).toBe(2 * INITIAL_RTO_MS);
    r.backOff();
    expect(r.rto).toBe(4 * INITIAL_RTO_MS);
  });
});

describe("Deadline", () => {
  // The clock is the test's: a late timer on a busy machine cannot move what these checks see.
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] }));
  afterEach(() => vi.useRealTimers());

  it("fires once at the deadline, follows it when moved later, and not at all when cleared", () => {
    const fired: number[] = [];
    const d = new Deadline(() => fired.push(performance.now()));
    const start = performance.now();
    d.set(start + 30);
    d.set(start + 80); // moved later: the early timer re-arms instead of firing
    vi.advanceTimersByTime(79);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([start + 80]);
    expect(d.at).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);

    d.set(performance.now() + 20);
    d.clear();
    vi.advanceTimersByTime(50);
    expect(fired).toHaveLength(1);

    const moved = performance.now();
    d.set(moved + 60);
    d.set(moved + 10); // moved earlier
    vi.advanceTimersByTime(10);
    expect(fired).toEqual([start + 80, moved + 10]);
    vi.advanceTimersByTime(100);
    expect(fired).toHaveLength(2);

    d.set(performance.now() + 10);
    d.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(30);
    expect(fired).toHaveLength(2);
  });
});

describe("stream payload", () => {
  it("rejects malformed payloads", () => {
    expect(parseSegment(Buffer.alloc(0))).toBeNull(); // no count
    expect(parseSegment(Buffer.from([MAX_SACK_BLOCKS + 1, ...Buffer.alloc(40)]))).toBeNull(); // too many blocks
    expect(parseSegment(Buffer.from([255]))).toBeNull();
    expect(parseSegment(Buffer.from([1, 0, 0, 0, 1]))).toBeNull(); // block cut short
    expect(parseSegment(Buffer.from([2, ...Buffer.alloc(8)]))).toBeNull(); // second block missing
    expect(parseSegment(Buffer.from([1, ...Buffer.alloc(7)]))).toBeNull();
  });

  it("parses a bare count, with or without data", () => {
    expect(parseSegment(Buffer.from([0]))).toEqual({ sack: [], data: Buffer.alloc(0) });
    const s = parseSegment(Buffer.from([0, 1, 2, 3]))!;
    expect(s.sack).toEqual([]);
    expect([...s.data]).toEqual([1, 2, 3]);
    // A data byte that looks like a count stays data.
    expect([...parseSegment(Buffer.from([0, 4]))!.data]).toEqual([4]);
  });

  it("round-trips sackHeader, including numbers past 2^31 and the full four blocks", () => {
    expect([...sackHeader([])]).toEqual([0]);
    const blocks = [
      { start: 0xffff_fff0, end: 0x10 },
      { start: 1, end: 2 },
      { start: 0x8000_0000, end: 0x8000_1000 },
      { start: 123_456_789, end: 123_460_000 },
    ];
    for (let n = 0; n <= MAX_SACK_BLOCKS; n++) {
      const data = Buffer.from(`payload ${n}`);
      const header = sackHeader(blocks.slice(0, n));
      expect(header.length).toBe(1 + 8 * n);
      const parsed = parseSegment(Buffer.concat([header, data]))!;
      expect(parsed.sack).toEqual(blocks.slice(0, n));
      expect(parsed.data.equals(data)).toBe(true);
    }
    // Negative numbers are written as their 32-bit unsigned form.
    expect(parseSegment(sackHeader([{ start: -1, end: -16 }]))!.sack).toEqual([{ start: 0xffff_ffff, end: 0xffff_fff0 }]);
  });
});
