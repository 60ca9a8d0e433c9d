/**
 * The stream engine on its own: packets scripted by the test, a clock the test moves, no sockets
 * and no timers. Every deadline the engine sets fires at exactly its time, so what these tests see
 * does not depend on how busy the machine is.
 */
import { describe, expect, it } from "vitest";
import { ABANDONED_MS, ConnectionEngine, type ConnectionSettings, type EngineHost, type StreamSegment } from "../src/dataplane/stream/engine.ts";
import { BETA } from "../src/dataplane/stream/congestion.ts";
import { MIN_RTO_MS } from "../src/dataplane/stream/rtt.ts";
import { DELAYED_ACK_MS } from "../src/dataplane/stream/receiver.ts";
import { seqAdd, seqDiff } from "../src/dataplane/stream/seq.ts";
import { PilotError } from "../src/errors.ts";
import { FLAG } from "../src/wire/packet.ts";
import type { SackBlock } from "../src/wire/segment.ts";

const EMPTY = Buffer.alloc(0);
const MSS = 1000;
const KiB = 1024;
const SETTINGS: ConnectionSettings = { mss: () => MSS, receiveBuffer: 64 * KiB, maxBuffer: 64 * KiB, sendBuffer: 1 << 20, keepaliveMs: 15_000, deadAfterMs: 60_000, lingerMs: 10_000 };
const PEER = 7;

/** The test's clock, in milliseconds. */
interface Clock {
  now: number;
}

interface Logged {
  at: number;
  segment: StreamSegment;
}

/**
 * One engine, and the host around it that the daemon's shell would be: it records every segment
 * sent, and at the end of each turn sends the partial segments written and the ACK owed.
 */
class Rig implements EngineHost {
  readonly engine: ConnectionEngine;
  readonly log: Logged[] = [];
  readonly received: Buffer[] = [];
  finished = false;
  failure: PilotError | null = null;
  /** When the engine told its host it is gone. */
  closedAt: number | null = null;
  /** Bytes reserved from the receive budget and not yet released. */
  budget = 0;
  /** The program reads everything at once unless told not to. */
  autoConsume = true;
  /** Where sent segments go besides the log (another engine, through a simulated path). */
  onSend: ((segment: StreamSegment) => void) | null = null;
  #cursor = 0;
  #answered = false;
  #ackDue = false;
  #flushDue = false;
  /** Data the program still has to write, and whether it ends the stream after. */
  #source: { data: Buffer; offset: number; end: boolean } | null = null;

  readonly clock: Clock;
  readonly iss: number;

  constructor(clock: Clock, iss: number, phase: "syn_sent" | "syn_received", settings: Partial<ConnectionSettings> = {}) {
    this.clock = clock;
    this.iss = iss;
    this.engine = new ConnectionEngine(this, { ...SETTINGS, ...settings }, PEER, 80, iss, phase, clock.now);
    this.engine.attach({
      deliver: (data) => {
        this.received.push(Buffer.from(data));
        if (this.autoConsume) this.engine.consumed(data.length);
      },
      finish: () => void (this.finished = true),
      fail: (e) => void (this.failure = e),
      writable: () => this.#feed(),
    });
  }

  /** The first byte of data: one after the SYN. */
  get base(): number {
    return seqAdd(this.iss, 1);
  }

  // EngineHost
  send(segment: StreamSegment): void {
    this.log.push({ at: this.clock.now, segment });
    this.onSend?.(segment);
  }
  ackSoon(): void {
    this.#ackDue = true;
  }
  opened(): void {}
  stalled(): void {}
  rtoFloorMs(): number {
    return MIN_RTO_MS;
  }
  closed(error?: PilotError): void {
    this.failure ??= error ?? null;
    this.closedAt ??= this.clock.now;
  }
  reserve(n: number): boolean {
    this.budget += n;
    return true;
  }
  release(n: number): void {
    this.budget -= n;
  }

  /** The end of a turn of the event loop: what the shell does then. */
  turn(): void {
    if (this.#flushDue) {
      this.#flushDue = false;
      this.engine.flush(this.clock.now);
    }
    if (this.#ackDue) {
      this.#ackDue = false;
      this.engine.flushAck();
    }
  }

  write(data: Buffer): boolean {
    this.#flushDue = true;
    return this.engine.write(data, this.clock.now);
  }

  /** Writes all of `data` as the send buffer allows (more each time the peer acknowledges some), then, if asked, ends. */
  writeAll(data: Buffer, end = true): void {
    this.#source = { data, offset: 0, end };
    this.#feed();
  }

  #feed(): void {
    const src = this.#source;
    if (!src) return;
    while (src.offset < src.data.length) {
      const n = Math.min(this.engine.room, 16 * KiB, src.data.length - src.offset);
      if (n <= 0) return;
      this.write(src.data.subarray(src.offset, src.offset + n));
      src.offset += n;
    }
    this.#source = null;
    if (src.end) this.engine.end(this.clock.now);
  }

  /** A packet from the peer, then the end of the turn. A listener's first SYN is answered, as the table does. */
  receive(segment: StreamSegment): void {
    if (this.engine.phase === "syn_received" && !this.#answered) {
      this.#answered = true;
      this.engine.answer(segment, this.clock.now);
    } else {
      this.engine.receive(segment, this.clock.now);
    }
    this.turn();
  }

  /** Moves the clock to `t`, firing each deadline the engine sets on the way at its exact time. */
  advanceTo(t: number): void {
    for (let fired = 0; ; fired++) {
      if (fired > 10_000) throw new Error("the engine keeps setting deadlines that are already due");
      const at = this.engine.nextTimeout();
      if (at === null || at > t) break;
      this.clock.now = Math.max(this.clock.now, at);
      this.engine.onTimeout(this.clock.now);
      this.turn();
    }
    this.clock.now = t;
  }

  advance(ms: number): void {
    this.advanceTo(this.clock.now + ms);
  }

  /** Segments sent since the last call. */
  take(): Logged[] {
    const fresh = this.log.slice(this.#cursor);
    this.#cursor = this.log.length;
    return fresh;
  }

  /** Where a segment's data starts, counted from the first byte of data. */
  offset(segment: StreamSegment): number {
    return seqDiff(segment.seq, this.base);
  }
}

/** The data segments among some sent ones, as [offset, length]. */
const dataOf = (rig: Rig, logged: Logged[]) => logged.filter((l) => l.segment.data.length > 0).map((l) => [rig.offset(l.segment), l.segment.data.length]);

/** A scripted peer's pure ACK: `ack` and SACK blocks as offsets from the rig's first byte of data. */
function ackOf(rig: Rig, peerNext: number, ack: number, sack: [number, number][] = [], window = 64): StreamSegment {
  const blocks: SackBlock[] = sack.map(([start, end]) => ({ start: seqAdd(rig.base, start), end: seqAdd(rig.base, end) }));
  return { flags: FLAG.ack, seq: peerNext, ack: seqAdd(rig.base, ack), window, sack: blocks, data: EMPTY };
}

/**
 * A dialing engine with the handshake done over a path with a round trip of `rtt` ms (100 unless
 * told), the peer offering `window` KiB: the SYN|ACK's round trip is the first RTT sample (SRTT
 * 100 ms, RTO 300 ms). Returns the rig and the peer's next sequence number.
 */
function dialed(window = 64, rtt = 100) {
  const peerIss = 50_000;
  const rig = new Rig({ now: 10_000 }, 1000, "syn_sent");
  rig.engine.connect(rig.clock.now);
  expect(rig.take().map((l) => l.segment.flags)).toEqual([FLAG.syn]);
  rig.advance(rtt);
  rig.receive({ flags: FLAG.syn | FLAG.ack, seq: peerIss, ack: rig.base, window, sack: [], data: EMPTY });
  expect(rig.engine.state).toBe("ESTABLISHED");
  expect(rig.take().map((l) => [l.segment.flags, l.segment.ack])).toEqual([[FLAG.ack, seqAdd(peerIss, 1)]]);
  expect(rig.engine.rtt.srtt).toBe(rtt);
  return { rig, peerNext: seqAdd(peerIss, 1) };
}

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) % 251));

describe("stream engine: congestion", () => {
  it("cuts the window once for several losses in one window, and again for a loss in a later one", () => {
    const { rig, peerNext } = dialed();
    rig.writeAll(pattern(40_000), false);
    rig.turn();
    // The initial window (RFC 6928): ten segments of 1,000 bytes.
    expect(dataOf(rig, rig.take())).toEqual(Array.from({ length: 10 }, (_, i) => [i * 1000, 1000]));
    rig.advance(100);
    const episodeStart = rig.clock.now;

    // Segments 1 and 4 are lost; the others arrive, each answered at once.
    rig.receive(ackOf(rig, peerNext, 1000));
    const arrivals: [number, number][][] = [
      [[2000, 3000]],
      [[2000, 4000]],
      [[5000, 6000], [2000, 4000]],
      [[5000, 7000], [2000, 4000]],
      [[5000, 8000], [2000, 4000]],
      [[5000, 9000], [2000, 4000]],
      [[5000, 10_000], [2000, 4000]],
    ];
    const before: number[] = [];
    const after: number[] = [];
    const episodes: number[] = [];
    for (const sack of arrivals) {
      before.push(rig.engine.describe().cwnd);
      rig.receive(ackOf(rig, peerNext, 1000, sack));
      after.push(rig.engine.describe().cwnd);
      episodes.push(rig.engine.describe().loss_episodes);
    }
    // Segment 1 is lost once three sent after it have arrived (at the third SACK), segment 4 two
    // arrivals later. The two losses make one episode: one cut to 70 %, of the window as it stood
    // when the first was found (the ACK that found it first counted its own delivery, in slow
    // start); no growth during the episode, and no second cut.
    expect(episodes).toEqual([0, 0, 1, 1, 1, 1, 1]);
    const reduced = (before[2]! + MSS) * BETA;
    expect(after.slice(2)).toEqual(Array(5).fill(reduced));
    expect(rig.engine.describe()).toMatchObject({ ssthresh: reduced, loss_episodes: 1 });
    // Both went again once the pipe had drained below the window.
    expect(dataOf(rig, rig.take()).filter(([off]) => off! < 10_000)).toEqual([
      [1000, 1000],
      [4000, 1000],
    ]);

    // The retransmissions and everything sent up to 16,000 arrive: more goes.
    rig.advance(100);
    rig.receive(ackOf(rig, peerNext, 16_000));
    const sent = dataOf(rig, rig.take());
    expect(sent).toContainEqual([17_000, 1000]);
    expect(sent).toContainEqual([18_000, 1000]);
    expect(rig.engine.describe()).toMatchObject({ cwnd: reduced, loss_episodes: 1 });

    // Sent after the episode began, segment 17 is lost and 18 arrives. Once 17 is 9/8 of a round
    // trip overdue, that is a new episode: the window is cut again.
    expect(rig.clock.now).toBeGreaterThan(episodeStart);
    rig.advance(100);
    rig.receive(ackOf(rig, peerNext, 17_000, [[18_000, 19_000]]));
    expect(rig.engine.describe().loss_episodes).toBe(1);
    const cwnd = rig.engine.describe().cwnd;
    rig.advance(20);
    expect(rig.engine.describe().loss_episodes).toBe(2);
    expect(Math.abs(rig.engine.describe().cwnd - cwnd * BETA)).toBeLessThanOrEqual(1);
    expect(rig.engine.stats.timeouts).toBe(0);
  });
});

describe("stream engine: timers", () => {
  it("sends a tail-loss probe before the retransmission timeout, and recovers the tail without one", () => {
    const { rig, peerNext } = dialed();
    rig.writeAll(pattern(4000), false);
    rig.turn();
    expect(dataOf(rig, rig.take())).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 1000],
      [3000, 1000],
    ]);
    // The first three arrive; the last is lost.
    rig.advance(100);
    rig.receive(ackOf(rig, peerNext, 3000));
    const ackedAt = rig.clock.now;
    const rto = rig.engine.rtt.rto;
    // The probe: two round trips after the last ACK, sooner than the timeout.
    const probeAt = ackedAt + 2 * rig.engine.rtt.srtt;
    expect(probeAt).toBeLessThan(ackedAt + rto);
    rig.advanceTo(probeAt - 1);
    expect(rig.take()).toEqual([]);
    rig.advanceTo(probeAt);
    const probe = rig.take();
    expect(dataOf(rig, probe)).toEqual([[3000, 1000]]);
    expect(probe[0]!.segment.data.equals(pattern(4000).subarray(3000))).toBe(true);
    // Its ACK comes back before the timer that the probe moved on, and before the old one too.
    rig.advance(40);
    expect(rig.clock.now).toBeLessThan(ackedAt + rto);
    rig.receive(ackOf(rig, peerNext, 4000));
    expect(rig.engine.describe()).toMatchObject({ unacked: 0, send_buffered: 0, timeouts: 0, retransmits: 1 });
    expect(rig.engine.nextTimeout()).toBeNull();
  });

  it("moves the retransmission timer on when it sends a tail-loss probe, so the probe's answer is awaited for a whole timeout", () => {
    // A steady 20 ms path: SRTT 20, RTTVAR all but gone, so the timeout is the 50 ms floor, later
    // than the probe (two round trips, 40 ms) but sooner than the probe's answer (three, 60 ms).
    const { rig, peerNext } = dialed(64, 20);
    let acked = 0;
    for (let i = 0; i < 12; i++) {
      rig.writeAll(pattern(1000), false);
      rig.turn();
      rig.take();
      rig.advance(20);
      acked += 1000;
      rig.receive(ackOf(rig, peerNext, acked));
    }
    expect(rig.engine.rtt.rto).toBe(MIN_RTO_MS);
    rig.writeAll(pattern(5000), false);
    rig.turn();
    expect(rig.take().length).toBe(5);
    // The first three arrive; the last two are lost.
    rig.advance(20);
    rig.receive(ackOf(rig, peerNext, acked + 3000));
    const ackedAt = rig.clock.now;
    rig.advanceTo(ackedAt + 40);
    expect(dataOf(rig, rig.take())).toEqual([[acked + 4000, 1000]]);
    // No timeout before the probe's answer is due: the timer runs from the probe.
    rig.advanceTo(ackedAt + 59);
    expect(rig.take()).toEqual([]);
    expect(rig.engine.stats.timeouts).toBe(0);
    rig.advanceTo(ackedAt + 60);
    rig.receive(ackOf(rig, peerNext, acked + 3000, [[acked + 4000, acked + 5000]]));
    expect(rig.engine.stats.timeouts).toBe(0);
  });

  it("doubles the retransmission timeout on each expiry, and starts again from the plain one after a new ACK", () => {
    const { rig, peerNext } = dialed();
    const rto = rig.engine.rtt.rto;
    expect(rto).toBe(300 + DELAYED_ACK_MS); // SRTT 100 + 4 · RTTVAR 50 + the peer's ACK delay
    rig.writeAll(pattern(1000), false);
    rig.turn();
    const sentAt = rig.clock.now;
    expect(dataOf(rig, rig.take())).toEqual([[0, 1000]]);
    // Nothing comes back. The segment goes again: the tail-loss probe, then at each timeout, the
    // first a whole timeout after the probe.
    rig.advanceTo(sentAt + 5000);
    const times = rig.take().map((l) => {
      expect(rig.offset(l.segment)).toBe(0);
      return l.at - sentAt;
    });
    expect(times).toEqual([200, 200 + rto, 200 + 3 * rto, 200 + 7 * rto, 200 + 15 * rto]);
    expect(rig.engine.describe()).toMatchObject({ timeouts: 4, rto_ms: 16 * rto });

    // An ACK of new data ends the backoff (its segment was sent again, so it gives no RTT sample).
    rig.receive(ackOf(rig, peerNext, 1000));
    expect(rig.engine.describe()).toMatchObject({ rto_ms: rto, unacked: 0 });
    rig.writeAll(pattern(1000), false);
    rig.turn();
    const again = rig.clock.now;
    rig.take();
    rig.advanceTo(again + 1200);
    expect(rig.take().map((l) => l.at - again)).toEqual([200, 200 + rto, 200 + 3 * rto]);
  });
});

describe("stream engine: flow control", () => {
  it("stops at a shut window, probes it with a growing interval, and resumes when it opens", () => {
    const { rig, peerNext } = dialed(2);
    const data = pattern(8000);
    rig.writeAll(data, false);
    rig.turn();
    // 2 KiB of window: two segments and the 48 bytes left.
    expect(dataOf(rig, rig.take())).toEqual([
      [0, 1000],
      [1000, 1000],
      [2000, 48],
    ]);
    rig.advance(100);
    rig.receive(ackOf(rig, peerNext, 2048, [], 0));
    expect(rig.engine.describe()).toMatchObject({ peer_window: 0, unacked: 0 });
    expect(rig.take()).toEqual([]);

    // Shut: empty probes one byte behind, each timeout twice the last; no data.
    const shutAt = rig.clock.now;
    rig.advanceTo(shutAt + 4000);
    const probes = rig.take();
    for (const { segment } of probes) {
      expect(segment).toMatchObject({ flags: FLAG.ack, seq: seqAdd(rig.base, 2047), data: EMPTY });
    }
    const times = probes.map((l) => l.at - shutAt);
    expect(times.length).toBeGreaterThanOrEqual(3);
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(2 * (times[i - 1]! - times[i - 2]!));

    // The peer answers a probe: still shut, nothing is sent.
    rig.receive(ackOf(rig, peerNext, 2048, [], 0));
    expect(rig.take()).toEqual([]);
    // It opens: the data goes at once, from where it stopped, up to the new edge.
    rig.receive(ackOf(rig, peerNext, 2048, [], 4));
    const resumed = rig.take();
    expect(dataOf(rig, resumed)).toEqual([
      [2048, 1000],
      [3048, 1000],
      [4048, 1000],
      [5048, 1000],
    ]);
    expect(Buffer.concat(resumed.map((l) => l.segment.data)).equals(data.subarray(2048, 6048))).toBe(true);
  });

  it("shuts its own window while the program does not read, refuses data past it, answers probes, and reopens", () => {
    const receiveBuffer = 4 * KiB;
    const peerIss = 70_000;
    const rig = new Rig({ now: 10_000 }, 900, "syn_received", { receiveBuffer });
    rig.autoConsume = false;
    rig.receive({ flags: FLAG.syn, seq: peerIss, ack: 0, window: 64, sack: [], data: EMPTY });
    const synAck = rig.take()[0]!.segment;
    expect(synAck).toMatchObject({ flags: FLAG.syn | FLAG.ack, ack: seqAdd(peerIss, 1), window: 4 });
    const at = (off: number) => seqAdd(peerIss, 1 + off);
    const data = (off: number, bytes: Buffer): StreamSegment => ({ flags: FLAG.ack, seq: at(off), ack: rig.base, window: 64, sack: [], data: bytes });
    rig.advance(50);
    rig.receive({ flags: FLAG.ack, seq: at(0), ack: rig.base, window: 64, sack: [], data: EMPTY });
    expect(rig.engine.state).toBe("ESTABLISHED");

    const body = pattern(5096);
    for (let off = 0; off < 4096; off += 1024) rig.receive(data(off, body.subarray(off, off + 1024)));
    rig.advance(20);
    const shut = rig.take().at(-1)!.segment;
    expect(shut).toMatchObject({ ack: at(4096), window: 0 });
    expect(rig.engine.describe()).toMatchObject({ receive_window: 0, unread: 4096 });

    // Past the window: dropped, and answered with an ACK restating it.
    rig.receive(data(4096, body.subarray(4096)));
    expect(rig.engine.describe().bytes_received).toBe(4096);
    expect(rig.take().map((l) => l.segment)).toMatchObject([{ ack: at(4096), window: 0 }]);
    // A window probe (one byte behind, empty) is answered too.
    rig.receive({ flags: FLAG.ack, seq: at(4095), ack: rig.base, window: 64, sack: [], data: EMPTY });
    expect(rig.take().map((l) => l.segment)).toMatchObject([{ ack: at(4096), window: 0 }]);

    // The program reads: the window reopens, and the peer is told at once.
    rig.engine.consumed(4096);
    rig.turn();
    expect(rig.take().map((l) => l.segment)).toMatchObject([{ ack: at(4096), window: 4 }]);
    rig.receive(data(4096, body.subarray(4096)));
    expect(Buffer.concat(rig.received).equals(body)).toBe(true);
    // What the program has not read is all the budget holds: the refused segment took none.
    expect(rig.engine.describe().unread).toBe(1000);
    expect(rig.budget).toBe(1000);
  });
});

describe("stream engine: SACK reneging", () => {
  /** Four segments sent; the first is lost, the other three arrive and are SACKed, and the third SACK shows the first lost: it goes again. */
  function firstLost(data: Buffer) {
    const { rig, peerNext } = dialed();
    rig.writeAll(data, false);
    rig.turn();
    rig.take();
    rig.advance(100);
    for (const end of [2000, 3000, 4000]) rig.receive(ackOf(rig, peerNext, 0, [[1000, end]]));
    expect(dataOf(rig, rig.take())).toEqual([[0, 1000]]);
    return { rig, peerNext };
  }

  it("keeps SACKed data until it is cumulatively acknowledged, and sends it again when the receiver drops it", () => {
    const data = pattern(4000);
    const { rig, peerNext } = firstLost(data);

    // The receiver reneges: it discarded what it had SACKed, and acknowledges only segment 0.
    rig.advance(100);
    rig.receive(ackOf(rig, peerNext, 1000));
    // The sender forgets nothing and keeps a timer for it.
    expect(rig.engine.describe()).toMatchObject({ unacked: 3000, send_buffered: 3000 });
    expect(rig.engine.nextTimeout()).not.toBeNull();

    // At the timeout the SACKs no longer count: segments 1 to 3 go again, as the window allows.
    // From then on the receiver takes each segment as it comes.
    const got: Buffer[] = [data.subarray(0, 1000)];
    let acked = 1000;
    for (let round = 0; acked < 4000; round++) {
      expect(round).toBeLessThan(10);
      let sent = rig.take();
      if (sent.length === 0) {
        rig.advanceTo(rig.engine.nextTimeout()!);
        sent = rig.take();
      }
      for (const { segment } of sent) {
        if (rig.offset(segment) !== acked || segment.data.length === 0) continue;
        got.push(segment.data);
        acked += segment.data.length;
      }
      rig.advance(50);
      rig.receive(ackOf(rig, peerNext, acked));
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(rig.engine.describe()).toMatchObject({ unacked: 0, send_buffered: 0, timeouts: 1 });
  });

  it("without reneging, a timeout sends again only what was not SACKed", () => {
    const { rig, peerNext } = firstLost(pattern(4000));
    // Segment 0's retransmission is lost too; the probe and the timeout send it again, and only it.
    rig.advance(3000);
    const resent = dataOf(rig, rig.take());
    expect(resent.length).toBeGreaterThanOrEqual(3);
    expect(resent.every(([off]) => off === 0)).toBe(true);
    expect(rig.engine.stats.timeouts).toBeGreaterThan(0);
    rig.receive(ackOf(rig, peerNext, 4000));
    expect(rig.engine.describe()).toMatchObject({ unacked: 0, send_buffered: 0 });
  });
});

/**
 * Two engines joined by a simulated path: every segment takes `delay` ms, and `lose` decides,
 * from the sender and the segment's number on that side, which are dropped.
 */
function simulate(a: Rig, b: Rig, options: { delay: number; lose: (from: Rig, n: number, segment: StreamSegment) => boolean; jitter?: (from: Rig, n: number) => number }) {
  const clock = a.clock;
  const inFlight: { at: number; to: Rig; segment: StreamSegment }[] = [];
  const counts = new Map<Rig, number>();
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.onSend = (segment) => {
      const n = counts.get(from) ?? 0;
      counts.set(from, n + 1);
      if (options.lose(from, n, segment)) return;
      const copy = { ...segment, sack: segment.sack.map((s) => ({ ...s })), data: Buffer.from(segment.data) };
      inFlight.push({ at: clock.now + options.delay + (options.jitter?.(from, n) ?? 0), to, segment: copy });
      inFlight.sort((x, y) => x.at - y.at);
    };
  }
  /** Runs events in time order until `done`, or throws once `limitMs` of simulated time have passed. */
  return (done: () => boolean, limitMs: number) => {
    const end = clock.now + limitMs;
    let still = 0;
    while (!done()) {
      // Time must move: an engine that keeps asking for the time it already has is stuck.
      if (++still > 10_000) throw new Error(`no progress at ${clock.now} ms`);
      const timers = [a.engine.nextTimeout(), b.engine.nextTimeout()].filter((t): t is number => t !== null);
      const next = Math.min(inFlight[0]?.at ?? Infinity, ...timers);
      if (next > end) throw new Error(`not done after ${limitMs} ms of simulated time`);
      if (next > clock.now) {
        clock.now = next;
        still = 0;
      }
      if (inFlight[0] && inFlight[0].at <= clock.now) {
        const { to, segment } = inFlight.shift()!;
        to.receive(segment);
      } else {
        for (const rig of [a, b]) {
          const at = rig.engine.nextTimeout();
          if (at !== null && at <= clock.now) {
            rig.engine.onTimeout(clock.now);
            rig.turn();
          }
        }
      }
    }
  };
}

describe("stream engine: sequence numbers", () => {
  it("carry data both ways across the wrap of the sequence space, through loss and reordering", () => {
    const clock = { now: 10_000 };
    const a = new Rig(clock, 0xffff_ffff - 20_000, "syn_sent");
    const b = new Rig(clock, 0xffff_ffff - 3000, "syn_received");
    // Every seventh segment from either side is lost, and every fifth is held back 30 ms.
    const sacksSeen: SackBlock[] = [];
    const run = simulate(a, b, {
      delay: 25,
      lose: (_, n, segment) => {
        sacksSeen.push(...segment.sack);
        return n > 3 && n % 7 === 0;
      },
      jitter: (_, n) => (n % 5 === 0 ? 30 : 0),
    });
    a.engine.connect(clock.now);
    run(() => a.engine.state === "ESTABLISHED" && b.engine.state === "ESTABLISHED", 5000);

    const up = pattern(200_000);
    const down = pattern(120_000).reverse();
    a.writeAll(up);
    b.writeAll(down);
    a.turn();
    b.turn();
    run(() => a.finished && b.finished && a.engine.phase === "closed" && b.engine.phase === "closed", 120_000);

    expect(Buffer.concat(b.received).equals(up)).toBe(true);
    expect(Buffer.concat(a.received).equals(down)).toBe(true);
    for (const rig of [a, b]) {
      expect(rig.failure).toBeNull();
      expect(rig.engine.stats.retransmits).toBeGreaterThan(0);
    }
    // Both directions' data went across the wrap: segments on each side of it, and SACK blocks too.
    for (const rig of [a, b]) {
      const seqs = rig.log.filter((l) => l.segment.data.length > 0).map((l) => l.segment.seq);
      expect(seqs.some((s) => s > 0xffff_0000)).toBe(true);
      expect(seqs.some((s) => s < 0x10_0000)).toBe(true);
    }
    expect(sacksSeen.some((s) => s.start > 0xffff_0000)).toBe(true);
    expect(sacksSeen.some((s) => s.end < 0x10_0000)).toBe(true);
    // Every byte reserved from the receive budget was released once the program took it.
    expect([a.budget, b.budget]).toEqual([0, 0]);
  });
});

describe("stream engine: ending", () => {
  /** A dialed rig that sent 3000 bytes and its FIN, all data acknowledged, and has the peer's FIN: only its own FIN's ACK is missing. */
  function lastAck() {
    const { rig, peerNext } = dialed();
    rig.writeAll(pattern(3000));
    rig.turn();
    rig.advance(100);
    rig.receive({ ...ackOf(rig, peerNext, 3000), flags: FLAG.ack | FLAG.fin });
    expect(rig.engine.state).toBe("LAST_ACK");
    expect(rig.finished).toBe(true);
    return { rig, peerNext: seqAdd(peerNext, 1) };
  }

  it("closes quietly on a RST that answers its FIN once the peer has all its data, as TCP does in LAST-ACK", () => {
    const { rig, peerNext } = lastAck();
    // The peer lingered, did not hear our retransmitted FIN in time, and forgot the connection.
    rig.advance(5_000);
    rig.receive({ flags: FLAG.rst, seq: peerNext, ack: 0, window: 0, sack: [], data: EMPTY });
    expect(rig.closedAt).toBe(rig.clock.now);
    expect(rig.failure).toBeNull();
  });

  it("fails with connection_reset on a RST while some of its data is unacknowledged", () => {
    const { rig, peerNext } = dialed();
    rig.writeAll(pattern(3000));
    rig.turn();
    rig.advance(100);
    rig.receive({ ...ackOf(rig, peerNext, 2000), flags: FLAG.ack | FLAG.fin });
    rig.receive({ flags: FLAG.rst, seq: seqAdd(peerNext, 1), ack: 0, window: 0, sack: [], data: EMPTY });
    expect(rig.failure).toMatchObject({ code: "connection_reset" });
  });

  it("lingers after both FINs, and lingers afresh each time the peer repeats its FIN", () => {
    const { rig, peerNext } = lastAck();
    rig.receive(ackOf(rig, peerNext, 3001));
    expect(rig.engine.phase).toBe("closed");
    const linger = SETTINGS.lingerMs;
    rig.advance(linger - 1000);
    rig.engine.tick(rig.clock.now);
    rig.take();
    // Our last ACK was lost: the peer sends its FIN again, and gets it again.
    rig.receive({ ...ackOf(rig, seqAdd(peerNext, -1), 3001), flags: FLAG.ack | FLAG.fin });
    expect(rig.take().map((l) => [l.segment.flags, l.segment.ack])).toEqual([[FLAG.ack, peerNext]]);
    rig.advance(linger - 1000);
    rig.engine.tick(rig.clock.now);
    expect(rig.closedAt).toBeNull();
    rig.advance(1000);
    rig.engine.tick(rig.clock.now);
    expect(rig.closedAt).toBe(rig.clock.now);
    expect(rig.failure).toBeNull();
  });
});

describe("stream engine: closed for its program (pilotctl disconnect)", () => {
  const disconnected = () => new PilotError("connection_reset", "connection 1 was closed by pilotctl disconnect", "connect again");
  /** The engine's data as it went out, and whether a FIN ended it. */
  const stream = (rig: Rig, sent: Logged[]) => ({
    data: Buffer.concat(sent.map((l) => l.segment.data)).toString(),
    fin: (sent.at(-1)!.segment.flags & FLAG.fin) !== 0,
  });

  it("lets the program go, sends a FIN after the data already queued, and resets the peer if it sends more", () => {
    const { rig, peerNext } = dialed();
    rig.write(Buffer.from("queued"));
    const error = disconnected();
    rig.engine.close(error, rig.clock.now);
    rig.turn();
    expect(rig.failure).toBe(error);
    expect(stream(rig, rig.take())).toEqual({ data: "queued", fin: true });
    expect(rig.engine.state).toBe("FIN_WAIT_1");
    // The peer takes the data and the FIN, then sends more, which nobody will read.
    rig.receive({ flags: FLAG.ack, seq: peerNext, ack: seqAdd(rig.base, 7), window: 64, sack: [], data: Buffer.from("more") });
    expect(rig.take().map((l) => l.segment.flags & FLAG.rst)).toEqual([FLAG.rst]);
    expect(rig.engine.phase).toBe("closed");
    expect(rig.received).toEqual([]);
  });

  it("ends cleanly when the peer ends its side too", () => {
    const { rig, peerNext } = dialed();
    rig.engine.close(disconnected(), rig.clock.now);
    rig.turn();
    expect(stream(rig, rig.take())).toEqual({ data: "", fin: true });
    rig.receive({ flags: FLAG.ack | FLAG.fin, seq: peerNext, ack: seqAdd(rig.base, 1), window: 64, sack: [], data: EMPTY });
    expect(rig.take().map((l) => l.segment.flags)).toEqual([FLAG.ack]);
    expect(rig.engine.state).toBe("TIME_WAIT");
    expect(rig.finished).toBe(false);
  });

  it("resets at once when closed a second time while its FIN waits", () => {
    const { rig } = dialed();
    rig.engine.close(disconnected(), rig.clock.now);
    rig.turn();
    rig.take();
    rig.engine.close(disconnected(), rig.clock.now);
    expect(rig.take().map((l) => l.segment.flags & FLAG.rst)).toEqual([FLAG.rst]);
    expect(rig.engine.phase).toBe("closed");
  });

  it("resets a connection it could not finish closing within ABANDONED_MS, as when the peer does not read", () => {
    const { rig } = dialed(1);
    rig.writeAll(pattern(64 * KiB), false);
    rig.turn();
    rig.engine.close(disconnected(), rig.clock.now);
    rig.turn();
    rig.take();
    // The peer's window stays shut: the queued data, and the FIN after it, never go.
    rig.advance(ABANDONED_MS - 1000);
    rig.engine.tick(rig.clock.now);
    expect(rig.engine.phase).not.toBe("closed");
    rig.advance(1000);
    rig.engine.tick(rig.clock.now);
    expect(rig.take().map((l) => l.segment.flags & FLAG.rst)).toContain(FLAG.rst);
    expect(rig.closedAt).toBe(rig.clock.now);
  });

  it("resets a connection still opening", () => {
    const rig = new Rig({ now: 0 }, 1000, "syn_sent");
    rig.engine.connect(0);
    rig.take();
    const error = disconnected();
    rig.engine.close(error, 0);
    expect(rig.engine.phase).toBe("closed");
    expect(rig.failure).toBe(error);
  });
});
