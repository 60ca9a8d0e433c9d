/**
 * The pieces under the stream engine: sequence arithmetic, the send queue, the RTT estimator, the
 * scoreboard, reassembly, the receiver and the sender, timers, the payload format. Congestion
 * control has its own file, congestion.test.ts.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ByteQueue } from "../src/byte-queue.ts";
import { BETA } from "../src/dataplane/stream/congestion.ts";
import { Deadline } from "../src/dataplane/stream/deadline.ts";
import { Reassembly } from "../src/dataplane/stream/reassembly.ts";
import { DELAYED_ACK_MS, Receiver } from "../src/dataplane/stream/receiver.ts";
import { INITIAL_RTO_MS, MAX_RTO_MS, MIN_RTO_MS, RttEstimator } from "../src/dataplane/stream/rtt.ts";
import { Scoreboard } from "../src/dataplane/stream/scoreboard.ts";
import { Sender } from "../src/dataplane/stream/sender.ts";
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

  // A sender slices forward from where its last slice began, and back for a retransmission, while
  // acknowledgements drop the front: any order of these must give the bytes a flat buffer gives.
  it("slices forward, back and after drops as a flat buffer does", () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ slice: fc.tuple(fc.nat(), fc.nat()) }),
      fc.record({ drop: fc.nat() }),
      fc.record({ take: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const q = new ByteQueue();
        let flat = Buffer.alloc(0);
        let next = 0;
        for (const o of ops) {
          if ("push" in o) {
            const chunk = Buffer.from(Array.from({ length: o.push }, () => next++ % 256));
            q.push(chunk);
            flat = Buffer.concat([flat, chunk]);
          } else if ("slice" in o) {
            if (flat.length === 0) continue;
            const offset = o.slice[0] % flat.length;
            const n = 1 + (o.slice[1] % (flat.length - offset));
            expect(q.slice(offset, n).equals(flat.subarray(offset, offset + n))).toBe(true);
          } else {
            const n = ("drop" in o ? o.drop : o.take) % (flat.length + 1);
            if ("take" in o) expect(q.take(n).equals(flat.subarray(0, n))).toBe(true);
            else q.drop(n);
            flat = flat.subarray(n);
          }
          expect(q.length).toBe(flat.length);
        }
      }),
      // A slice's cursor must follow the chunks a drop takes away: random runs find that only most of the time.
      { numRuns: 500, examples: [[[{ push: 2 }, { push: 2 }, { push: 2 }, { slice: [2, 0] }, { drop: 2 }, { slice: [2, 0] }]]] },
    );
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
    // Plus the peer's longest ACK delay: a lone segment's ACK may wait that long.
    expect(r.rto).toBe(100 + 4 * 50 + DELAYED_ACK_MS);
  });

  it("smooths later samples with alpha 1/8 and beta 1/4, RTTVAR first", () => {
    const r = new RttEstimator();
    r.sample(100);
    r.sample(200);
    // RTTVAR uses the old SRTT: 0.75·50 + 0.25·|100 − 200| = 62.5; SRTT = 0.875·100 + 0.125·200 = 112.5.
    expect(r.rttvar).toBeCloseTo(62.5, 10);
    expect(r.srtt).toBeCloseTo(112.5, 10);
    expect(r.rto).toBeCloseTo(112.5 + 4 * 62.5 + DELAYED_ACK_MS, 10);
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

  it("takes its floor from the path, asked anew each time (the relay's is higher)", () => {
    let floor = 200;
    const r = new RttEstimator(() => floor);
    for (let i = 0; i < 20; i++) r.sample(5);
    expect(r.rto).toBe(200);
    floor = MIN_RTO_MS;
    expect(r.rto).toBe(MIN_RTO_MS);
  });

  it("doubles on each backoff up to the cap, and resets", () => {
    const r = new RttEstimator();
    r.sample(100);
    const rto = 300 + DELAYED_ACK_MS;
    expect(r.rto).toBe(rto);
    r.backOff();
    expect(r.rto).toBe(2 * rto);
    r.backOff();
    expect(r.rto).toBe(4 * rto);
    for (let i = 0; i < 30; i++) r.backOff();
    expect(r.rto).toBe(MAX_RTO_MS);
    r.resetBackoff();
    expect(r.rto).toBe(rto);
  });

  it("backs off the initial timeout too", () => {
    const r = new RttEstimator();
    r.backOff();
    expect(r.rto).toBe(2 * INITIAL_RTO_MS);
    r.backOff();
    expect(r.rto).toBe(4 * INITIAL_RTO_MS);
  });
});

describe("Scoreboard", () => {
  /** `n` segments of 1,000 bytes from `start`, sent one a millisecond from t = 0. */
  const board = (n: number, start = 5000) => {
    const b = new Scoreboard();
    const segs = Array.from({ length: n }, (_, i) => b.push(seqAdd(start, i * 1000), 1000, false));
    segs.forEach((s, i) => b.transmitted(s, i));
    return { b, segs, at: (off: number) => seqAdd(start, off) };
  };
  const rtt = (ms: number) => {
    const r = new RttEstimator();
    r.sample(ms);
    return r;
  };

  it("does not take a resend acknowledged sooner than the least round trip for the newest arrival, unless no round trip is known", () => {
    const resent = (minRtt: number) => {
      const { b, segs, at } = board(5);
      // The first segment goes again at 200 (nothing else is marked) and is acknowledged 1 ms
      // later: too soon for the resend, so the first sending arrived.
      b.transmitted(segs[0]!, 200);
      b.acknowledge(at(1000), [], 201, minRtt);
      // Taken for the newest arrival, it would make the four sent before the resend look lost.
      b.detectLoss(201, rtt(100));
      return b.lostCount;
    };
    expect(resent(100)).toBe(0);
    expect(resent(Infinity)).toBe(4);
  });

  it("counts the pipe through cumulative ACKs, SACKs and a partial ACK, and counts nothing twice", () => {
    const { b, segs, at } = board(5);
    expect([b.pipe, b.outstanding]).toEqual([5000, true]);
    expect(b.acknowledge(at(1000), [], 0, 0)).toEqual({ bytes: 1000, newest: segs[0] });
    expect(b.pipe).toBe(4000);
    // Segments 2 and 3 SACKed: delivered, the later transmission the newest.
    expect(b.acknowledge(at(1000), [{ start: at(2000), end: at(4000) }], 0, 0)).toEqual({ bytes: 2000, newest: segs[3] });
    expect(b.pipe).toBe(2000);
    // The same SACK again delivers nothing; a block covering half a segment marks nothing.
    expect(b.acknowledge(at(1000), [{ start: at(2000), end: at(4000) }, { start: at(4000), end: at(4500) }], 0, 0)).toBeNull();
    // A cumulative ACK past SACKed segments counts only what was not SACKed.
    expect(b.acknowledge(at(4000), [], 0, 0)).toEqual({ bytes: 1000, newest: segs[1] });
    expect(b.pipe).toBe(1000);
    // Half of the last: trimmed, not delivered.
    expect(b.acknowledge(at(4500), [], 0, 0)).toBeNull();
    expect(b.pipe).toBe(500);
    expect(b.acknowledge(at(5000), [], 0, 0)).toEqual({ bytes: 500, newest: segs[4] });
    expect([b.pipe, b.outstanding]).toEqual([0, false]);
  });

  it("declares a segment lost once three sent after it arrived, and holds the newest send time for the episode", () => {
    const { b, segs, at } = board(5);
    b.acknowledge(at(0), [{ start: at(1000), end: at(3000) }], 0, 0);
    expect(b.detectLoss(2, rtt(100))).toEqual({ newestLost: null, recheckAt: 0 + 112.5 });
    b.acknowledge(at(0), [{ start: at(1000), end: at(4000) }], 0, 0);
    expect(b.detectLoss(3, rtt(100))).toEqual({ newestLost: 0, recheckAt: null });
    expect([b.lostCount, b.pipe, [...b.lost(1000)]]).toEqual([1, 1000, [segs[0]]]);
  });

  it("declares a segment lost once it is 9/8 of a round trip older than one that arrived, at the time it asked to look again", () => {
    const { b, at } = board(3);
    b.acknowledge(at(0), [{ start: at(1000), end: at(2000) }], 0, 0);
    const { recheckAt } = b.detectLoss(50, rtt(100));
    expect(recheckAt).toBe(112.5);
    expect(b.detectLoss(recheckAt! - 0.001, rtt(100)).newestLost).toBeNull();
    expect(b.detectLoss(recheckAt!, rtt(100))).toEqual({ newestLost: 0, recheckAt: null });
  });

  it("finds a lost retransmission the same way", () => {
    const { b, segs, at } = board(4);
    b.acknowledge(at(0), [{ start: at(1000), end: at(4000) }], 0, 0);
    b.detectLoss(4, rtt(100));
    b.transmitted(segs[0]!, 5);
    expect([b.lostCount, b.pipe]).toEqual([0, 1000]);
    const later = [4000, 5000, 6000].map((off, i) => {
      const s = b.push(at(off), 1000, false);
      b.transmitted(s, 6 + i);
      return s;
    });
    b.acknowledge(at(0), [{ start: at(1000), end: at(7000) }], 0, 0);
    expect(b.detectLoss(9, rtt(100)).newestLost).toBe(5);
    expect([...b.lost(1000)]).toEqual([segs[0]]);
    expect(later.every((s) => s.sacked)).toBe(true);
  });

  it("at a timeout, marks lost what was not SACKed, and everything if the receiver reneged", () => {
    const honest = board(4);
    honest.b.acknowledge(honest.at(0), [{ start: honest.at(1000), end: honest.at(3000) }], 0, 0);
    honest.b.timeout();
    expect([...honest.b.lost(1000)]).toEqual([honest.segs[0], honest.segs[3]]);
    expect(honest.b.pipe).toBe(0);

    // The receiver acknowledges up to a segment it had SACKed: it dropped what it reported holding.
    const reneged = board(4);
    reneged.b.acknowledge(reneged.at(0), [{ start: reneged.at(1000), end: reneged.at(3000) }], 0, 0);
    reneged.b.acknowledge(reneged.at(1000), [], 0, 0);
    expect([reneged.b.pipe, reneged.b.outstanding]).toEqual([1000, true]);
    reneged.b.timeout();
    expect([...reneged.b.lost(1000)]).toEqual(reneged.segs.slice(1));
    expect([reneged.b.lostCount, reneged.b.pipe]).toEqual([3, 0]);
    // Sent again and acknowledged, they leave the board cleanly.
    for (const s of reneged.segs.slice(1)) reneged.b.transmitted(s, 10);
    expect(reneged.b.acknowledge(reneged.at(4000), [], 0, 0)).toMatchObject({ bytes: 3000 });
    expect([reneged.b.lostCount, reneged.b.pipe, reneged.b.outstanding]).toEqual([0, 0, false]);
  });

  it("splits a lost segment longer than the segment size now into pieces, in the state it was in, a FIN with the last", () => {
    const b = new Scoreboard();
    const start = 0xffff_fc00;
    const head = b.push(start, 1000, false);
    const big = b.push(seqAdd(start, 1000), 2501, true);
    b.transmitted(head, 0);
    b.transmitted(big, 1);
    expect(b.pipe).toBe(3501);
    b.timeout();
    expect([b.lostCount, b.pipe]).toEqual([2, 0]);
    const lost = [...b.lost(1000)].map((s) => [seqDiff(s.seq, start), s.len, s.fin, s.lost, s.xmits]);
    expect(lost).toEqual([
      [0, 1000, false, true, 1],
      [1000, 1000, false, true, 1],
      [2000, 1000, false, true, 1],
      [3000, 501, true, true, 1],
    ]);
    expect(b.lostCount).toBe(4);
    // Sent again and acknowledged, the pieces leave the board cleanly.
    for (const s of [...b.lost(1000)]) b.transmitted(s, 5);
    expect([b.lostCount, b.pipe]).toEqual([0, 3501]);
    expect(b.acknowledge(seqAdd(start, 3501), [], 0, 0)).toMatchObject({ bytes: 3501 });
    expect([b.pipe, b.outstanding]).toEqual([0, false]);
  });

  it("splits the last segment for a tail-loss probe and gives its last piece, the pipe unchanged", () => {
    const { b, at } = board(2);
    const last = b.lastUnsacked(300)!;
    expect([seqDiff(last.seq, at(0)), last.len, b.pipe, b.lostCount]).toEqual([1900, 100, 2000, 0]);
    // The pieces hold the second segment's bytes: SACKing all of them delivers it.
    expect(b.acknowledge(at(0), [{ start: at(1000), end: at(2000) }], 0, 0)).toMatchObject({ bytes: 1000 });
    expect(b.pipe).toBe(1000);
  });

  it("works across the wrap of the sequence space", () => {
    const { b, segs, at } = board(4, 0xffff_fc00);
    expect(at(2000)).toBeLessThan(0x1000);
    expect(b.acknowledge(at(1000), [{ start: at(2000), end: at(4000) }], 0, 0)).toEqual({ bytes: 3000, newest: segs[3] });
    expect(b.detectLoss(4, rtt(100)).recheckAt).toBe(1 + 112.5);
    expect(b.lastUnsacked(1000)).toBe(segs[1]);
  });
});

describe("Reassembly", () => {
  const make = (syn = 999) => {
    const out = { data: [] as Buffer[], finished: false, released: 0 };
    const r = new Reassembly({ deliver: (d) => out.data.push(d), finish: () => void (out.finished = true), release: (n) => void (out.released += n) });
    r.start(syn);
    return { r, out, at: (off: number) => seqAdd(syn, 1 + off), text: () => Buffer.concat(out.data).toString() };
  };
  const b = (s: string) => Buffer.from(s);

  it("delivers in order, holds what lies beyond a gap, and lets it through when the gap fills", () => {
    const { r, out, at, text } = make();
    expect(r.take(at(0), b("ab"), false)).toEqual({ bytes: 2, filledGap: false });
    expect(r.take(at(4), b("ef"), false)).toBeNull();
    expect(r.take(at(8), b("ij"), false)).toBeNull();
    expect([text(), r.held, r.next]).toEqual(["ab", 4, at(2)]);
    expect(r.take(at(2), b("cd"), false)).toEqual({ bytes: 2, filledGap: true });
    expect([text(), r.held, r.next]).toEqual(["abcdef", 2, at(6)]);
    expect(r.take(at(6), b("gh"), true)).toEqual({ bytes: 2, filledGap: true });
    // The FIN came with the segment that filled the gap: the held bytes after it are given back.
    expect([text(), r.finished, out.finished, r.held, out.released]).toEqual(["abcdefgh", true, true, 0, 2]);
    expect(r.next).toBe(at(9));
    expect(r.stale(at(9), 5, false)).toBe(true);
  });

  it("reports held ranges as SACK blocks: the newest first, then the highest, at most four", () => {
    const { r, at } = make();
    for (const off of [10, 30, 50, 70, 90]) r.take(at(off), Buffer.alloc(5), false);
    r.take(at(35), Buffer.alloc(5), false); // joins the block at 30
    expect(r.sackBlocks()).toEqual([
      { start: at(30), end: at(40) },
      { start: at(90), end: at(95) },
      { start: at(70), end: at(75) },
      { start: at(50), end: at(55) },
    ]);
  });

  it("keeps each byte once from overlapping segments, giving back the budget of the rest", () => {
    const { r, out, at, text } = make();
    r.take(at(2), b("cdef"), false);
    r.take(at(1), b("bcdefgh"), false); // overlaps on both sides of what is held
    expect([r.held, out.released]).toEqual([7, 4]);
    r.take(at(0), b("abc"), false); // old bytes at its end are given back as they drain
    expect(text()).toBe("abcdefgh");
    expect(out.released).toBe(4 + 2);
    expect(r.take(at(6), b("ghij"), false)).toEqual({ bytes: 2, filledGap: false });
    expect(text()).toBe("abcdefghij");
    expect(out.released).toBe(4 + 2 + 2);
  });

  it("tells repeats from new data, a lone FIN included", () => {
    const { r, at } = make();
    r.take(at(0), b("abc"), false);
    expect(r.stale(at(0), 3, false)).toBe(true);
    expect(r.stale(at(0), 4, false)).toBe(false);
    expect(r.stale(at(3), 0, false)).toBe(true);
    expect(r.stale(at(3), 0, true)).toBe(false);
    expect(r.take(at(3), Buffer.alloc(0), true)).toEqual({ bytes: 0, filledGap: false });
    expect(r.finished).toBe(true);
    expect(r.stale(at(4), 1, false)).toBe(true);
  });

  it("works across the wrap of the sequence space, and gives back what it holds when cleared", () => {
    const { r, at, text } = make(0xffff_fffa);
    expect(at(10)).toBe(5);
    r.take(at(8), b("ijkl"), false);
    expect(r.sackBlocks()).toEqual([{ start: at(8), end: at(12) }]);
    r.take(at(0), b("abcdefgh"), false);
    expect([text(), r.next]).toEqual(["abcdefghijkl", 7]);
    r.take(at(20), b("zz"), false);
    expect(r.clear()).toBe(2);
    expect([r.held, r.sackBlocks()]).toEqual([0, []]);
  });
});

describe("Receiver", () => {
  const MSS = 1000;
  /**
   * A receiver whose peer's data starts at offset 0, and a record of what it asked for. Its buffer
   * stays at `receiveBuffer` unless `maxBuffer` lets it grow; `rtt.srtt` is the round trip it knows.
   */
  const make = (receiveBuffer = 64 * 1024, budget = Infinity, maxBuffer = receiveBuffer, rtt = { srtt: 1 }) => {
    const out = { data: [] as Buffer[], finished: false, reserved: 0, released: 0, ackSoon: 0, ackNow: 0 };
    const r = new Receiver(
      {
        deliver: (d) => out.data.push(d),
        finish: () => void (out.finished = true),
        reserve: (n) => out.reserved - out.released + n <= budget && ((out.reserved += n), true),
        release: (n) => void (out.released += n),
        ackSoon: () => void out.ackSoon++,
        ackNow: () => void out.ackNow++,
      },
      { mss: () => MSS, receiveBuffer, maxBuffer },
      rtt,
    );
    const syn = 0xffff_fe00;
    r.start(syn);
    r.acknowledgement(true);
    return { r, out, at: (off: number) => seqAdd(syn, 1 + off) };
  };

  it("acknowledges every second segment at once, and a lone one after DELAYED_ACK_MS", () => {
    const { r, out, at } = make();
    r.receive(at(0), Buffer.alloc(MSS), false, 100);
    expect([out.ackSoon, r.owesAck, r.deadline]).toEqual([0, false, 100 + DELAYED_ACK_MS]);
    r.receive(at(1000), Buffer.alloc(MSS), false, 105);
    expect([out.ackSoon, r.owesAck]).toEqual([1, true]);
    // A packet going out carries the acknowledgement: nothing is owed after it.
    expect(r.acknowledgement(false)).toEqual({ next: at(2000), window: 62, sack: [] });
    expect([r.owesAck, r.deadline]).toEqual([false, 0]);

    r.receive(at(2000), Buffer.alloc(MSS), false, 200);
    r.onTimeout(200 + DELAYED_ACK_MS - 1);
    expect(out.ackNow).toBe(0);
    r.onTimeout(200 + DELAYED_ACK_MS);
    expect([out.ackNow, r.owesAck, r.deadline]).toEqual([1, true, 0]);
  });

  it("acknowledges at once what is out of order, a filled gap, a FIN and a repeat, and answers a probe behind the window", () => {
    const { r, out, at } = make();
    const acksAfter = (step: () => void) => {
      const before = out.ackSoon;
      step();
      return out.ackSoon - before;
    };
    expect(acksAfter(() => r.receive(at(1000), Buffer.alloc(MSS), false, 0))).toBe(1);
    expect(r.acknowledgement(true)).toEqual({ next: at(0), window: 64, sack: [{ start: at(1000), end: at(2000) }] });
    expect(acksAfter(() => r.receive(at(0), Buffer.alloc(MSS), false, 0))).toBe(1); // fills the gap
    expect(acksAfter(() => r.receive(at(0), Buffer.alloc(MSS), false, 0))).toBe(1); // a repeat
    expect(acksAfter(() => r.receive(at(2000), Buffer.alloc(0), true, 0))).toBe(1);
    expect([r.finished, out.finished]).toEqual([true, true]);
    // An empty segment one byte behind (a window probe) draws an answer; one at the edge does not.
    expect(acksAfter(() => r.receive(at(2000), Buffer.alloc(0), false, 0))).toBe(1);
    expect(acksAfter(() => r.receive(at(2001), Buffer.alloc(0), false, 0))).toBe(0);
    expect(r.deadline).toBe(0);
  });

  it("offers the buffer less what is unread, and accepts data up to the furthest edge it ever offered", () => {
    const { r, out, at } = make(4096);
    expect(r.window).toBe(4096);
    r.receive(at(0), Buffer.alloc(1500), false, 0);
    // 2,596 bytes free: two whole KiB are offered, but the edge already offered (4,096) still holds.
    expect([r.unread, r.window, r.acknowledgement(false).window]).toEqual([1500, 2048, 2]);
    r.receive(at(1500), Buffer.alloc(2596), false, 0);
    expect([r.unread, r.window, out.reserved]).toEqual([4096, 0, 4096]);
    // A byte past the edge is refused without taking any budget, and answered.
    const acks = out.ackSoon;
    r.receive(at(4096), Buffer.alloc(1), false, 0);
    expect([r.unread, out.reserved, out.ackSoon]).toEqual([4096, 4096, acks + 1]);
    // Reading less than a quarter of the buffer is not worth an ACK of its own; reading a quarter is.
    expect(r.consumed(1023)).toBe(false);
    expect(r.consumed(1)).toBe(true);
    expect([r.unread, out.released]).toEqual([3072, 1024]);
  });

  it("refuses data the budget cannot hold, and gives back all it holds when cleared", () => {
    const { r, out, at } = make(64 * 1024, 2500);
    r.receive(at(0), Buffer.alloc(MSS), false, 0);
    r.receive(at(2000), Buffer.alloc(MSS), false, 0);
    r.receive(at(4000), Buffer.alloc(MSS), false, 0); // over budget: dropped
    expect([r.unread, r.held, out.reserved]).toEqual([1000, 1000, 2000]);
    expect(r.inWindow(at(1000))).toBe(true);
    expect(r.inWindow(at(999))).toBe(false);
    expect(r.inWindow(at(64 * 1024 + 1))).toBe(true);
    expect(r.inWindow(at(64 * 1024 + 2))).toBe(false);
    r.clear();
    expect([r.unread, r.held, out.released]).toEqual([0, 0, 2000]);
  });

  const KiB = 1024;
  /**
   * The peer sends `segments` in order, one every `gapMs` from `startMs`, and an ACK answers each
   * (offering the window); the program reads each as it arrives unless `reads` is false. Returns
   * the buffer after each arrival.
   */
  const stream = (rx: ReturnType<typeof make>, segments: number, gapMs: number, { reads = true, from = 0, startMs = 0 } = {}) => {
    const buffers: number[] = [];
    for (let i = 0; i < segments; i++) {
      rx.r.receive(rx.at(from + i * MSS), Buffer.alloc(MSS), false, startMs + i * gapMs);
      if (reads) rx.r.consumed(MSS);
      rx.r.acknowledgement(false);
      buffers.push(rx.r.buffer);
    }
    return buffers;
  };

  it("doubles its buffer, up to maxBuffer, when the program reads half of it in less than two round trips", () => {
    // A 50 ms path, a segment every 0.1 ms (10 MB/s).
    const rx = make(64 * KiB, Infinity, 256 * KiB, { srtt: 50 });
    const buffers = stream(rx, 400, 0.1);
    // More than half of 64 KiB (33 segments) read in 3.3 ms, far less than two round trips: 128
    // KiB. More than half of that (66 more) in 6.6 ms: 256 KiB, the most it may grow to.
    expect(buffers.indexOf(128 * KiB)).toBe(33);
    expect(buffers.indexOf(256 * KiB)).toBe(33 + 66);
    expect(buffers.at(-1)).toBe(256 * KiB);
    // The peer is offered the larger window.
    expect(rx.r.acknowledgement(false).window).toBe(256);
  });

  it("keeps its buffer on a short path, for a program that does not read, and without a round-trip sample", () => {
    // 0.1 ms round trip, the same rate: half the buffer takes 33 round trips to read.
    expect(new Set(stream(make(64 * KiB, Infinity, 256 * KiB, { srtt: 0.1 }), 400, 0.1))).toEqual(new Set([64 * KiB]));
    // A 50 ms path, but the program reads nothing: the window fills and stays shut.
    const idle = make(64 * KiB, Infinity, 256 * KiB, { srtt: 50 });
    expect(new Set(stream(idle, 64, 0.1, { reads: false }))).toEqual(new Set([64 * KiB]));
    expect(idle.r.window).toBe(1024);
    // The handshake gave no sample (its SYN went twice).
    expect(new Set(stream(make(64 * KiB, Infinity, 256 * KiB, { srtt: 0 }), 400, 0.1))).toEqual(new Set([64 * KiB]));
  });

  it("measures from where the last measure ended: a program that slows down stops the growth", () => {
    const rx = make(64 * KiB, Infinity, 1024 * KiB, { srtt: 10 });
    // Fast at first: 33 segments in 3.3 ms, where 20 ms (4 × ½ × 10 ms) was allowed. It grows once...
    expect(stream(rx, 40, 0.1).at(-1)).toBe(128 * KiB);
    // ...then the program takes a segment every 2 ms: 66 segments (half of 128 KiB) take about
    // 125 ms, far more than the 20 ms allowed, so the buffer stays.
    expect(stream(rx, 200, 2, { from: 40 * MSS, startMs: 10 }).at(-1)).toBe(128 * KiB);
  });
});

describe("Sender", () => {
  const MSS = 1000;
  /** An open sender over a path whose round trip is `rttMs` (100 ms: RTO 320 ms; 0: not measured), and a record of what it sent. */
  const make = (window = 64 * 1024, rttMs = 100, maxBuffer = 64 * 1024) => {
    /** The path's segment size, which a test may change (path MTU discovery). */
    const path = { mss: MSS };
    const out = { sent: [] as { seq: number; len: number; fin: boolean; at: number }[], writable: 0, stalled: 0, unanswered: 0 };
    const clock = { now: 0 };
    const rtt = new RttEstimator();
    // 0: no sample at all (the handshake's SYN went twice).
    if (rttMs > 0) rtt.sample(rttMs);
    const iss = 0xffff_f000;
    const s = new Sender(
      {
        send: (seq, data, fin) => void out.sent.push({ seq: seqDiff(seq, seqAdd(iss, 1)), len: data.length, fin, at: clock.now }),
        writable: () => void out.writable++,
        stalled: () => void out.stalled++,
        unanswered: () => void out.unanswered++,
      },
      { mss: () => path.mss, sendBuffer: 64 * 1024, maxBuffer, keepaliveMs: 15_000, deadAfterMs: 60_000 },
      rtt,
      iss,
    );
    s.open(window);
    /** The peer's ACK of everything up to `off`, with SACK blocks as offsets. */
    const ack = (off: number, sack: [number, number][] = [], win = window) =>
      s.acknowledged(
        seqAdd(iss, 1 + off),
        win,
        sack.map(([a, b]) => ({ start: seqAdd(iss, 1 + a), end: seqAdd(iss, 1 + b) })),
        clock.now,
      );
    /** Moves the clock to `t`, running each deadline on the way at its time. */
    const advanceTo = (t: number) => {
      for (let at = s.deadline; at && at <= t; at = s.deadline) {
        clock.now = at;
        s.onTimeout(at);
      }
      clock.now = t;
    };
    const take = () => out.sent.splice(0).map(({ seq, len, fin, at }) => (fin ? [seq, len, "fin", at] : [seq, len, at]));
    return { s, out, clock, rtt, ack, advanceTo, take, path };
  };

  /** A sender on a steady 100 ms path (its timeout down to about 121 ms) whose flight of ten segments left at 0. */
  const steadyFlight = () => {
    const m = make(64 * 1024, 100);
    for (let i = 0; i < 20; i++) m.rtt.sample(100);
    expect(m.rtt.rto).toBeLessThan(125);
    m.s.write(Buffer.alloc(10_000), 0);
    expect(m.take()).toHaveLength(10);
    return m;
  };

  it("sends whole segments at once, a partial one only on flush, the FIN after the data, and frees the buffer as the peer acknowledges", () => {
    const { s, out, ack, take } = make();
    expect(s.write(Buffer.alloc(2500), 0)).toBe(true);
    expect(take()).toEqual([
      [0, 1000, 0],
      [1000, 1000, 0],
    ]);
    s.flush(0);
    s.end(0);
    expect(take()).toEqual([
      [2000, 500, 0],
      [2500, 0, "fin", 0],
    ]);
    expect(s.write(Buffer.alloc(1), 0)).toBe(false);
    expect([s.buffered, s.unacked, s.inFlight, s.finSent]).toEqual([2500, 2501, 2501, true]);
    // An ACK beyond what was sent is not taken.
    expect(ack(2502)).toBe(false);
    expect(ack(2501)).toBe(true);
    expect([s.buffered, s.unacked, s.finAcked, out.writable, s.deadline]).toEqual([0, 0, true, 1, 0]);
  });

  it("runs the retransmission timer afresh when it sends the first unacknowledged segment again", () => {
    const { s, ack, take, advanceTo } = steadyFlight();
    // The first segment was lost: the SACK of the other nine finds it, and it goes again at once.
    advanceTo(100);
    ack(0, [[1000, 10_000]]);
    expect(take()).toEqual([[0, 1000, 100]]);
    // Its answer takes a round trip. The timer set when the flight left (t = 0) would have fired at
    // about 121 ms, before it, cutting the window to one segment for nothing.
    advanceTo(200);
    ack(10_000);
    expect(take()).toEqual([]);
    expect(s.stats.timeouts).toBe(0);
  });

  it("undoes a timeout that an ACK proves spurious, sooner than a round trip after it, and sends nothing more again", () => {
    const { s, ack, take, advanceTo } = steadyFlight();
    const cwnd = s.cwnd;
    // The flight's ACKs are held in a queue: the timer fires first and sends the first segment again.
    advanceTo(125);
    expect([s.stats.timeouts, s.cwnd, take()]).toEqual([1, 1000, [[0, 1000, 121]]]);
    // 9 ms later the first five arrive: too soon for the segment sent again, so the originals got
    // through. The window comes back, and the five still out are not sent again (RACK ignores the
    // ambiguous one, RFC 8985 §6.2).
    advanceTo(130);
    ack(5000);
    // Back to the window before the timeout, grown by the five delivered in slow start.
    expect([s.stats.spuriousTimeouts, s.cwnd]).toEqual([1, cwnd + 5000]);
    expect(take()).toEqual([]);
    advanceTo(140);
    ack(10_000);
    expect([s.stats.retransmits, take()]).toEqual([1, []]);
  });

  it("answers a timeout whose ACK may answer a tail-loss probe's resend as the one loss the probe repaired: the window back, then cut by β", () => {
    const { s, rtt, ack, take, advanceTo } = make(64 * 1024, 10);
    for (let i = 0; i < 20; i++) rtt.sample(10);
    s.write(Buffer.alloc(10_000), 0);
    expect(take()).toHaveLength(10);
    // The first nine arrive in a round trip; the last was lost.
    advanceTo(10);
    ack(9000);
    const cwnd = s.cwnd;
    // The probe sends the last segment again (a lone segment's probe waits out a delayed ACK too);
    // its resend is held in a queue, and the timeout fires before its answer and sends it once more.
    advanceTo(45);
    expect(take()).toEqual([[9000, 1000, 45]]);
    advanceTo(100);
    expect([s.stats.timeouts, take()]).toEqual([1, [[9000, 1000, 95]]]);
    // 5 ms after the timeout: too soon for the timeout's resend, but 55 ms after the probe's. The
    // original went with the nine answered at 10 ms, so the probe's resend is what arrived: a loss.
    // RFC 8985 §7.4: not the timeout's one segment, nor the window as if nothing was lost, but the
    // cut fast recovery makes for one loss.
    ack(10_000);
    expect([s.stats.spuriousTimeouts, s.stats.lossEpisodes, s.cwnd, s.ssthresh]).toEqual([0, 1, cwnd * BETA, cwnd * BETA]);
  });

  it("still undoes a timeout whose ACK is for data sent before it and not probed again", () => {
    const { s, rtt, ack, take, advanceTo } = make(64 * 1024, 10);
    for (let i = 0; i < 20; i++) rtt.sample(10);
    s.write(Buffer.alloc(10_000), 0);
    take();
    const cwnd = s.cwnd;
    // Every ACK is held in a queue: the probe sends the last segment again, the timeout the first.
    advanceTo(90);
    expect([s.stats.timeouts, take()]).toEqual([1, [[9000, 1000, 35], [0, 1000, 85]]]);
    // The first five, 5 ms after the timeout: their originals got through, and the probe's resend
    // is not among them.
    ack(5000);
    expect([s.stats.spuriousTimeouts, s.cwnd]).toEqual([1, cwnd + 5000]);
  });

  // Only a SACK block covers the probe's resend (the first five's originals arrived, but the last
  // one's resend): in the ACK that moves, or in one before it, after the timeout.
  it.each([
    ["in the ACK that moves", [[5000, [[9000, 10_000]]]]],
    ["SACKed first, then the ACK that moves", [[0, [[9000, 10_000]]], [5000, []]]],
  ] as [string, [number, [number, number][]][]][])("answers it as one loss too when only a SACK block covers the probe's resend: %s", (_, acks) => {
    const { s, rtt, ack, advanceTo } = make(64 * 1024, 10);
    for (let i = 0; i < 20; i++) rtt.sample(10);
    s.write(Buffer.alloc(10_000), 0);
    const cwnd = s.cwnd;
    advanceTo(90);
    expect([s.stats.timeouts, s.cwnd]).toEqual([1, 1000]);
    for (const [to, sack] of acks) ack(to, sack);
    expect([s.stats.spuriousTimeouts, s.stats.lossEpisodes, s.cwnd]).toEqual([0, 1, cwnd * BETA]);
  });

  it("undoes nothing without a round trip measured: an ACK after a timeout could then be the resend's", () => {
    const { s, ack, take, advanceTo } = make(64 * 1024, 0);
    s.write(Buffer.alloc(10_000), 0);
    take();
    // 1 s before any sample: the timeout, and the first segment again.
    advanceTo(1000);
    expect(take()).toEqual([[0, 1000, 1000]]);
    advanceTo(1500);
    ack(1000);
    expect([s.stats.timeouts, s.stats.spuriousTimeouts, s.cwnd]).toEqual([1, 0, 1000]);
  });

  it("judges two timeouts in a row from the first: an ACK just after the second may answer the first's resend", () => {
    const { s, ack, advanceTo } = steadyFlight();
    advanceTo(125);
    advanceTo(125 + 243);
    expect(s.stats.timeouts).toBe(2);
    // 5 ms after the second timeout, but 249 ms after the first one's resend: a round trip grown by a queue.
    advanceTo(125 + 243 + 5);
    ack(1000);
    expect([s.stats.spuriousTimeouts, s.cwnd]).toEqual([0, 1000]);
  });

  it("keeps the cut of a timeout that was real: the ACK came a round trip after the segment went again", () => {
    const { s, ack, take, advanceTo } = steadyFlight();
    advanceTo(125);
    take();
    advanceTo(221);
    ack(1000);
    expect([s.stats.timeouts, s.stats.spuriousTimeouts]).toEqual([1, 0]);
    // The window stays at one segment (the resend belongs to the timeout's episode, so its ACK
    // grows nothing), and the next segment declared lost goes.
    expect(s.cwnd).toBe(1000);
    expect(take()).toEqual([[1000, 1000, 221]]);
  });

  it("grows its send buffer with the peer's window and twice its own congestion window, up to maxBuffer", () => {
    /** Writes plenty and has the peer acknowledge each flight whole, until `bytes` are acknowledged. */
    const deliver = (m: ReturnType<typeof make>, bytes: number) => {
      m.s.write(Buffer.alloc(bytes + 100_000), 0);
      for (let acked = 0; acked < bytes; ) {
        const last = m.take().at(-1)!;
        acked = (last[0] as number) + (last[1] as number);
        m.ack(acked);
      }
    };
    const wide = make(1024 * 1024, 100, 256 * 1024);
    // Ten segments of congestion window: twice that is less than the 64 KiB configured.
    expect([wide.s.cwnd, wide.s.bufferSize]).toEqual([10_000, 64 * 1024]);
    // Slow start: each byte delivered adds one to the window, and the buffer follows at twice it.
    deliver(wide, 40_000);
    expect(wide.s.bufferSize).toBe(2 * wide.s.cwnd);
    expect(wide.s.bufferSize).toBeGreaterThan(64 * 1024);
    // Past 128 KiB of window, the most it may grow to holds it.
    deliver(wide, 200_000);
    expect(wide.s.bufferSize).toBe(256 * 1024);
    // A peer offering 96 KiB gets no more than that waiting, whatever the congestion window.
    const narrow = make(96 * 1024, 100, 256 * 1024);
    deliver(narrow, 300_000);
    expect([narrow.s.cwnd > 200_000, narrow.s.bufferSize]).toEqual([true, 96 * 1024]);
  });

  it("keeps to the congestion window and the peer's, and leaves a sliver of window unused", () => {
    const { s, clock, ack, take } = make();
    s.write(Buffer.alloc(20_000), 0);
    // The initial window: ten segments.
    expect(take()).toHaveLength(10);
    clock.now = 100;
    // Two arrive (the congestion window grows by them) and the peer offers 10,500 bytes past them:
    // two more segments fit, and the 500 bytes left are a sliver, not worth a segment.
    ack(2000, [], 10_500);
    expect(take().map(([seq, len]) => [seq, len])).toEqual([
      [10_000, 1000],
      [11_000, 1000],
    ]);
    expect([s.peerWindow, s.inFlight, s.cwnd]).toEqual([10_500, 10_000, 12_000]);
    // A window update alone lets more go, up to the congestion window.
    ack(2000, [], 20_000);
    expect(take().map(([seq, len]) => [seq, len])).toEqual([
      [12_000, 1000],
      [13_000, 1000],
    ]);
  });

  it("sends a tail-loss probe two round trips after the last ACK, and runs the retransmission timer afresh from it", () => {
    const { s, rtt, ack, clock, advanceTo, take } = make();
    s.write(Buffer.alloc(4000), 0);
    take();
    clock.now = 100;
    ack(3000);
    expect(s.deadline).toBe(100 + 2 * rtt.srtt);
    advanceTo(299);
    expect(take()).toEqual([]);
    advanceTo(300);
    expect(take()).toEqual([[3000, 1000, 300]]);
    expect(s.stats.retransmits).toBe(1);
    // RFC 8985 §7.3: the timer runs from the probe, so the probe's answer has a whole timeout to come.
    const rtoAt = 300 + rtt.rto;
    expect(s.deadline).toBe(rtoAt);
    advanceTo(rtoAt);
    expect(take()).toEqual([[3000, 1000, rtoAt]]);
    expect(s.stats.timeouts).toBe(1);
  });

  it("follows the path's segment size: new data takes the size of the moment, a lost segment goes again in pieces that fit", () => {
    const { s, ack, clock, take, path } = make();
    s.write(Buffer.alloc(4000), 0);
    expect(take().map(([seq, len]) => [seq, len])).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
      [3000, 1000],
    ]);
    // The path's MTU falls: the first segment is lost, and the three after it arrived.
    path.mss = 400;
    clock.now = 100;
    ack(0, [[1000, 4000]]);
    expect(take().map(([seq, len]) => [seq, len])).toEqual([
      [0, 400],
      [400, 400],
      [800, 200],
    ]);
    s.write(Buffer.alloc(1000), 100);
    s.flush(100);
    expect(take().map(([seq, len]) => [seq, len])).toEqual([
      [4000, 400],
      [4400, 400],
      [4800, 200],
    ]);
    // And it climbs again: new data takes the larger size at once.
    path.mss = 1000;
    clock.now = 200;
    ack(5000);
    s.write(Buffer.alloc(2000), 200);
    expect(take().map(([seq, len]) => [seq, len])).toEqual([
      [5000, 1000],
      [6000, 1000],
    ]);
  });

  it("sends a tail-loss probe of a segment sent when the path carried more as the last piece that fits", () => {
    const { s, ack, clock, advanceTo, take, path } = make();
    s.write(Buffer.alloc(4000), 0);
    take();
    clock.now = 100;
    ack(2000);
    path.mss = 300;
    advanceTo(300);
    expect(take()).toEqual([[3900, 100, 300]]);
  });

  /** Runs the sender's deadlines up to `until`, noting when each retransmission timeout fired. */
  const timeoutsUntil = (m: ReturnType<typeof make>, until: number) => {
    const at: number[] = [];
    for (let t = m.s.deadline; t && t <= until && !m.out.unanswered; t = m.s.deadline) {
      const before = m.s.stats.timeouts;
      m.advanceTo(t);
      if (m.s.stats.timeouts > before) at.push(t);
    }
    return at;
  };

  it("gives the peer up after eight timeouts in a row, once they have lasted deadAfterMs, and a timeout only stalls before that", () => {
    // A slow path: the eighth timeout comes 81 s after the first was armed, past the minute.
    const slow = make();
    slow.s.write(Buffer.alloc(1000), 0);
    const slowAt = timeoutsUntil(slow, 1_000_000);
    expect([slow.out.stalled, slow.out.unanswered, slow.s.stats.timeouts]).toEqual([7, 1, 8]);
    expect(slowAt[7]! - slowAt[0]!).toBeGreaterThanOrEqual(60_000);
    // At the 50 ms floor eight timeouts are over in 13 s: the sender goes on until the run has lasted
    // the minute, at the eleventh, when a lossy path has had eleven chances to carry one through.
    const fast = make(64 * 1024, 1);
    fast.s.write(Buffer.alloc(1000), 0);
    const fastAt = timeoutsUntil(fast, 1_000_000);
    expect(fastAt).toHaveLength(11);
    expect(fastAt[7]! - fastAt[0]!).toBeLessThan(60_000);
    expect(fastAt[9]! - fastAt[0]!).toBeLessThan(60_000);
    expect(fastAt[10]! - fastAt[0]!).toBeGreaterThanOrEqual(60_000);
    expect([fast.out.stalled, fast.out.unanswered]).toEqual([10, 1]);
  });

  it("gives up a peer that keeps SACKing later data but never takes the first segment, once the minute has passed", () => {
    const m = make(64 * 1024, 1);
    m.s.write(Buffer.alloc(4000), 0);
    const at: number[] = [];
    for (let t = m.s.deadline; t && !m.out.unanswered; t = m.s.deadline) {
      const before = m.s.stats.timeouts;
      m.advanceTo(t);
      if (m.s.stats.timeouts > before) at.push(t);
      // Every retransmission draws an answer: the later three segments held, the first still missing.
      if (!m.out.unanswered) m.ack(0, [[1000, 4000]]);
    }
    expect(at.length).toBeGreaterThanOrEqual(8);
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(60_000);
    expect(at.at(-2)! - at[0]!).toBeLessThan(60_000);
  });

  it("counts the minute afresh from the first timeout after new data is acknowledged", () => {
    const m = make(64 * 1024, 1);
    m.s.write(Buffer.alloc(1000), 0);
    const first = timeoutsUntil(m, 52_000);
    expect(first).toHaveLength(10);
    // The tenth retransmission gets through: the run of timeouts is over.
    m.ack(1000);
    m.s.write(Buffer.alloc(1000), m.clock.now);
    const second = timeoutsUntil(m, 1_000_000);
    expect(m.out.unanswered).toBe(1);
    expect(second).toHaveLength(11);
    expect(second[10]! - second[0]!).toBeGreaterThanOrEqual(60_000);
  });

  it("probes as a keepalive only with nothing in flight, at most once a keepalive interval", () => {
    const { s, ack, clock, take } = make();
    const keepAlive = (t: number) => {
      clock.now = t;
      s.keepAlive(t);
      return take();
    };
    // An empty segment one byte behind the next to send.
    expect(keepAlive(15_000)).toEqual([[-1, 0, 15_000]]);
    expect(keepAlive(29_999)).toEqual([]);
    s.write(Buffer.alloc(1000), 30_000);
    take();
    expect(keepAlive(30_000)).toEqual([]);
    ack(1000);
    expect(keepAlive(30_000)).toEqual([[999, 0, 30_000]]);
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
