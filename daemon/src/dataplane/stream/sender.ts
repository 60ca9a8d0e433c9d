/**
 * The send side of an open connection: what goes next and when. It holds the bytes written and
 * not yet acknowledged, and sends what congestion control (`congestion.ts`) and the peer's window
 * allow, lost segments (found by the scoreboard, `scoreboard.ts`) before new data.
 *
 * Its timers: the retransmission timer (RFC 6298); before it, a tail-loss probe (RFC 8985 §7)
 * after two round trips of silence sends one segment to draw the SACK that finds a lost tail; the
 * RACK reordering window, after which a segment may be declared lost; and, when the peer's window
 * is shut with nothing in flight, the persist timer, which probes the window with backoff. The
 * persist timer and the retransmission timer are one deadline, as nothing is in flight while the
 * window is probed.
 *
 * The handshake is the engine's: the sender starts at `open` and stops at `stop`.
 */
import type { SackBlock } from "../../wire/segment.ts";
import { ByteQueue } from "../../byte-queue.ts";
import { type CongestionControl, Cubic } from "./congestion.ts";
import { DELAYED_ACK_MS } from "./receiver.ts";
import type { RttEstimator } from "./rtt.ts";
import { Scoreboard, type Sent } from "./scoreboard.ts";
import { seqAdd, seqDiff, seqLt, seqLte } from "./seq.ts";
import { earliest } from "./time.ts";

const EMPTY = Buffer.alloc(0);
/**
 * Timeouts in a row before the peer may be given up for dead, and only once they have lasted
 * `deadAfterMs` as well (see #onRto). A count alone is over in 13 s at the 50 ms floor, and a
 * lossy path runs it out by chance: at 20 % loss each way a retransmission and its ACK both get
 * through 64 % of the time, so eight in a row fail once in 1,300 stalls, and a 64 MiB transfer
 * met one in a run of four.
 */
const MAX_TIMEOUTS = 8;

export interface SenderSettings {
  /**
   * The largest segment the path carries now. It follows path MTU discovery, so it is asked as
   * segments go: new data takes the size of the moment, and a segment sent when the path carried
   * more goes out again in pieces that fit.
   */
  mss: () => number;
  /** The send buffer a connection starts with: written bytes held until the peer acknowledges them. */
  sendBuffer: number;
  /**
   * The most the send buffer grows to. It grows with the window the peer offers (up to this), as
   * the peer's receiver grows it on a long path: a send buffer smaller than the window would hold
   * the stream to the send buffer per round trip instead.
   */
  maxBuffer: number;
  keepaliveMs: number;
  /** How long a peer may go without a word, or without acknowledging our data, before it is given up for dead. */
  deadAfterMs: number;
}

/** What the send side asks of the engine around it. */
export interface SenderOutput {
  /** Sends a segment (with ACK, and FIN if `fin`); the engine adds the acknowledgement and window. */
  send(seq: number, data: Buffer, fin: boolean): void;
  /** The peer acknowledged bytes, so the send buffer has room for more. */
  writable(): void;
  /** A retransmission timed out: the peer may have restarted and lost our tunnel's keys. */
  stalled(): void;
  /** The peer acknowledged nothing through MAX_TIMEOUTS retransmission timeouts in a row lasting deadAfterMs: give it up. */
  unanswered(): void;
}

export class Sender {
  readonly stats = { bytesSent: 0, retransmits: 0, lossEpisodes: 0, timeouts: 0, spuriousTimeouts: 0 };
  readonly #out: SenderOutput;
  readonly #s: SenderSettings;
  readonly #rtt: RttEstimator;
  /** Bytes from #una on: in flight, then not yet sent. */
  readonly #queue = new ByteQueue();
  readonly #board = new Scoreboard();
  readonly #congestion: CongestionControl;
  #open = false;
  #una: number;
  #nxt: number;
  #peerEdge: number;
  #maxPeerWindow = 0;
  #timeouts = 0;
  /** When the first of the timeouts in a row fired. */
  #stalledSince = 0;
  /** When the first timeout of the present run fired, until the first ACK after it that acknowledges new data. */
  #timedOutAt = -1;
  #finQueued = false;
  #finSeq = -1;
  #finAcked = false;
  #lastProbe = 0;
  /** A tail-loss probe is out and no ACK has come since. */
  #probing = false;
  /**
   * The segment a tail-loss probe sent again (its first sequence number, and when it was sent
   * before), until an ACK or SACK covers it; during a run of timeouts, kept until the run is judged,
   * with whether anything since the first timeout covered it.
   */
  #probeResent: { seq: number; sentBefore: number; covered: boolean } | null = null;

  /** Retransmission of data, or the window probe (persist). */
  #rtoAt = 0;
  /** RACK's reordering window: a segment may pass the time threshold then. */
  #lossAt = 0;
  #probeAt = 0;

  /** Starts behind our SYN at `iss`, which the engine sends. */
  constructor(out: SenderOutput, settings: SenderSettings, rtt: RttEstimator, iss: number) {
    this.#out = out;
    this.#s = settings;
    this.#rtt = rtt;
    this.#una = iss;
    this.#nxt = seqAdd(iss, 1);
    this.#peerEdge = this.#nxt;
    this.#congestion = new Cubic(this.#s.mss);
  }

  /** The peer acknowledged our SYN and offers `window` bytes: data may go. */
  open(window: number): void {
    this.#open = true;
    this.#una = seqAdd(this.#una, 1);
    this.#peerEdge = seqAdd(this.#una, window);
  }

  /** Nothing more is sent on the sender's own account, and its timers stop. */
  stop(): void {
    this.#open = false;
    this.#rtoAt = this.#lossAt = this.#probeAt = 0;
  }

  // ── The program's side ──

  /**
   * Queues bytes to send; false once the send buffer is full, or the stream ended. Only whole
   * segments go at once: `flush` sends the rest.
   */
  write(data: Buffer, now: number): boolean {
    if (this.#finQueued) return false;
    this.#queue.push(data);
    this.#pump(false, now);
    return this.#queue.length < this.bufferSize;
  }

  /** Sends what the windows allow, a last partial segment included. */
  flush(now: number): void {
    this.#pump(true, now);
  }

  /** A FIN follows the queued data. */
  end(now: number): void {
    if (this.#finQueued) return;
    this.#finQueued = true;
    this.#pump(true, now);
  }

  /** The next sequence number to send: what a segment without data carries. */
  get next(): number {
    return this.#nxt;
  }

  /** The program has ended the stream (the FIN may not have gone yet). */
  get ended(): boolean {
    return this.#finQueued;
  }

  get finSent(): boolean {
    return this.#finSeq !== -1;
  }

  get finAcked(): boolean {
    return this.#finAcked;
  }

  /** Bytes written and not yet acknowledged by the peer. */
  get buffered(): number {
    return this.#queue.length;
  }

  /**
   * The send buffer now: the configured size, or more on a long path: as large as the largest
   * window the peer has offered, but no more than twice the congestion window (as Linux sizes its
   * send buffers from the window), so that a peer must take data at that rate before it can make
   * the daemon hold more of our program's, and never more than `maxBuffer`.
   */
  get bufferSize(): number {
    return Math.max(this.#s.sendBuffer, Math.min(this.#s.maxBuffer, this.#maxPeerWindow, 2 * this.#congestion.cwnd));
  }

  /** Bytes `write` may still take before the send buffer is full. */
  get room(): number {
    return this.bufferSize - this.#queue.length;
  }

  /** Sent and not yet acknowledged, in sequence space. */
  get unacked(): number {
    return seqDiff(this.#nxt, this.#una);
  }

  get peerWindow(): number {
    return Math.max(0, seqDiff(this.#peerEdge, this.#una));
  }

  /** Bytes in the network: sent, and neither delivered nor declared lost. */
  get inFlight(): number {
    return this.#board.pipe;
  }

  get cwnd(): number {
    return this.#congestion.cwnd;
  }

  get ssthresh(): number {
    return this.#congestion.ssthresh;
  }

  // ── Acknowledgements ──

  /**
   * The peer's acknowledgement, its window (in bytes) and SACK blocks. False if it acknowledges
   * what was never sent: the engine answers with where we are.
   */
  acknowledged(ack: number, window: number, sack: readonly SackBlock[], now: number): boolean {
    if (seqLt(this.#nxt, ack)) return false;
    if (seqLt(ack, this.#una)) return true;
    this.#peerEdge = seqAdd(ack, window);
    this.#maxPeerWindow = Math.max(this.#maxPeerWindow, window);
    const advanced = seqDiff(ack, this.#una);
    const delivery = this.#board.acknowledge(ack, sack, now, this.#rtt.min);
    if (this.#probeResent !== null && covers(ack, sack, this.#probeResent.seq)) {
      // Before a timeout, the probe's resend was answered and answers no later timeout's ACK.
      if (this.#timedOutAt < 0) this.#probeResent = null;
      else this.#probeResent.covered = true;
    }
    if (advanced > 0 && this.#timedOutAt >= 0) this.#judgeTimeout(now);
    if (advanced > 0) {
      this.#queue.drop(Math.min(advanced, this.#queue.length));
      this.#una = ack;
      this.#timeouts = 0;
      this.#rtt.resetBackoff();
      if (this.#finSeq !== -1 && seqLt(this.#finSeq, ack)) this.#finAcked = true;
    }
    if (delivery) {
      // Karn: only a segment sent once gives an unambiguous round trip.
      if (delivery.newest.xmits === 1) this.#rtt.sample(now - delivery.newest.sentAt);
      this.#congestion.onDelivered(delivery.bytes, delivery.newest.sentAt, this.#board.pipe, now, this.#rtt.srtt);
      this.#detectLoss(now);
    }
    if (advanced > 0) this.#rtoAt = this.#board.outstanding ? now + this.#rtt.rto : 0;
    if (delivery || advanced > 0) {
      this.#probing = false;
      this.#probeAt = 0;
    }
    if (advanced > 0) this.#out.writable();
    this.#pump(true, now);
    if (this.#board.outstanding) this.#armProbe(now);
    return true;
  }

  /**
   * The first new ACK after a run of timeouts: sooner than any round trip after the first of them,
   * it is for segments sent before it, which the timeout took for lost. So it was spurious (the
   * ACKs were held in a queue, as on a long path whose queue grows faster than the timer learns),
   * and the window cut to one segment and the segments to send again are undone, as Linux undoes
   * one (F-RTO, RFC 5682). Unless the ACK may be for a tail-loss probe's resend from before the
   * timeout (the probe runs the timer afresh, so the timeout came a whole timeout after it): then
   * the probe repaired a loss, and RFC 8985 §7.4 answers it as fast recovery would, so the window
   * comes back and takes the cut of that one loss instead (none if the loss belongs to an episode
   * already under way, whose cut it had).
   */
  #judgeTimeout(now: number): void {
    const at = this.#timedOutAt;
    this.#timedOutAt = -1;
    // Whatever the judgement, the probe's record belongs to the run judged now.
    const probe = this.#probeResent;
    this.#probeResent = null;
    // No sample: no least round trip to judge by. Otherwise, from the first timeout in the row: an
    // ACK later than that may answer that timeout's resend.
    if (!this.#rtt.hasSample || now - at >= this.#rtt.min) return this.#congestion.keepTimeout();
    this.#congestion.undoTimeout();
    this.#board.undoTimeout(at);
    if (!probe?.covered) this.stats.spuriousTimeouts++;
    else if (this.#congestion.onLoss(probe.sentBefore, now)) this.stats.lossEpisodes++;
  }

  #detectLoss(now: number): void {
    const scan = this.#board.detectLoss(now, this.#rtt);
    this.#lossAt = scan.recheckAt ?? 0;
    if (scan.newestLost !== null && this.#congestion.onLoss(scan.newestLost, now)) this.stats.lossEpisodes++;
  }

  // ── Time ──

  /** The earliest of the sender's deadlines, or 0. */
  get deadline(): number {
    return earliest(earliest(this.#lossAt, this.#probeAt), this.#rtoAt);
  }

  /** Runs whatever is due at `now`: each handler clears or moves its deadline first. */
  onTimeout(now: number): void {
    if (this.#lossAt && this.#lossAt <= now) {
      this.#lossAt = 0;
      this.#detectLoss(now);
      this.#pump(true, now);
    }
    if (this.#probeAt && this.#probeAt <= now) {
      this.#probeAt = 0;
      this.#onProbeTimer(now);
    }
    if (this.#rtoAt && this.#rtoAt <= now) {
      this.#rtoAt = 0;
      this.#onRto(now);
    }
  }

  /**
   * The line has been quiet for the keepalive interval: a window probe draws an answer from a live
   * peer. Not while data is in flight (its ACKs will do), nor twice within the interval.
   */
  keepAlive(now: number): void {
    if (now - this.#lastProbe >= this.#s.keepaliveMs && !this.#board.outstanding) this.#probe(now);
  }

  #onRto(now: number): void {
    if (!this.#board.outstanding) return this.#probe(now);
    this.stats.timeouts++;
    if (++this.#timeouts === 1) this.#stalledSince = now;
    // RFC 9293 §3.8.3 asks at least 100 s of a TCP before it gives up; deadAfterMs (a minute) is
    // what a connection allows a silent peer, and a peer that answers but never takes our data is
    // no livelier. Backoff spaces the retransmissions, so the minute holds about eleven of them.
    if (this.#timeouts >= MAX_TIMEOUTS && now - this.#stalledSince >= this.#s.deadAfterMs) return this.#out.unanswered();
    this.#rtt.backOff();
    this.#out.stalled();
    if (this.#timedOutAt < 0) this.#timedOutAt = now;
    this.#congestion.onTimeout(this.#board.pipe + this.#board.lostCount * this.#s.mss(), now);
    this.#board.timeout();
    this.#pump(true, now);
    this.#rtoAt = now + this.#rtt.rto;
  }

  /**
   * Nothing in flight but the peer's window is closed (or the line has been quiet): an empty
   * segment one byte behind, which any live peer answers with an ACK carrying its window.
   */
  #probe(now: number): void {
    this.#lastProbe = now;
    this.#out.send(seqAdd(this.#nxt, -1), EMPTY, false);
    if (this.#blockedByWindow()) {
      this.#rtt.backOff();
      this.#rtoAt = now + this.#rtt.rto;
    }
  }

  #blockedByWindow(): boolean {
    const unsent = this.#queue.length - seqDiff(this.#nxt, this.#una);
    return (unsent > 0 || (this.#finQueued && this.#finSeq === -1)) && !this.#board.outstanding;
  }

  /** RFC 8985 §7.2: two round trips, more if a lone segment may wait for a delayed ACK. */
  #armProbe(now: number): void {
    if (this.#probing || !this.#rtt.hasSample || this.#probeAt) return;
    let pto = 2 * this.#rtt.srtt;
    // The peer is a receiver like ours, which holds a lone segment's ACK up to DELAYED_ACK_MS.
    if (this.#board.pipe <= this.#s.mss()) pto = Math.max(pto, 1.5 * this.#rtt.srtt + DELAYED_ACK_MS);
    if (now + pto < this.#rtoAt) this.#probeAt = now + pto;
  }

  /**
   * Sends the tail-loss probe: new data if the windows allow, else the last segment again. Then,
   * as RFC 8985 §7.3 says, the retransmission timer runs afresh from the probe. Left where it was,
   * it expired before the probe's answer could come back on paths of about 17 to 25 ms (a probe
   * at two round trips, the 50 ms floor, the answer at three), and the needless timeout cut the
   * window to one segment.
   */
  #onProbeTimer(now: number): void {
    if (!this.#board.outstanding) return;
    this.#probing = true;
    const sentBefore = this.#board.transmissions;
    this.#pump(true, now);
    if (this.#board.transmissions === sentBefore) {
      // No new data could go: send the last segment again.
      const last = this.#board.lastUnsacked(this.#s.mss());
      if (!last) return;
      this.stats.retransmits++;
      this.#probeResent = { seq: last.seq, sentBefore: last.sentAt, covered: false };
      this.#transmit(last, now);
    }
    this.#rtoAt = now + this.#rtt.rto;
  }

  // ── Sending data ──

  /** Sends what congestion and flow control allow: lost segments first, then new data. */
  #pump(partial: boolean, now: number): void {
    if (!this.#open) return;
    const mss = this.#s.mss();
    if (this.#board.lostCount > 0) {
      for (const s of this.#board.lost(mss)) {
        if (!this.#congestion.canSend(this.#board.pipe, s.len)) return;
        this.stats.retransmits++;
        this.#transmit(s, now);
        // The timer waits for the first unacknowledged segment, so it runs from that segment's
        // latest sending, as Linux has it. Left running from the last new ACK, it fired before a
        // lost segment sent again could be answered wherever finding the loss took most of a
        // round trip (after a quiet spell, or behind a window cut to below what is in flight).
        if (s.seq === this.#una) this.#rtoAt = now + this.#rtt.rto;
      }
    }
    for (;;) {
      if (this.#finSeq !== -1) return;
      const offset = seqDiff(this.#nxt, this.#una);
      const unsent = this.#queue.length - offset;
      if (unsent === 0) {
        if (this.#finQueued) this.#sendNew(0, true, now);
        return;
      }
      let len = Math.min(mss, unsent);
      if (len < mss && !partial && !this.#finQueued) return;
      const room = seqDiff(this.#peerEdge, this.#nxt);
      if (room < len) {
        // Sender-side silly-window avoidance: a sliver of window is not worth a segment.
        if (room <= 0 || room < Math.min(mss, this.#maxPeerWindow / 2)) return this.#awaitWindow(now);
        len = room;
      }
      if (!this.#congestion.canSend(this.#board.pipe, len)) return;
      this.#sendNew(len, this.#finQueued && len === unsent, now);
    }
  }

  /** The window is shut with nothing in flight: the persist timer will probe it. */
  #awaitWindow(now: number): void {
    if (!this.#board.outstanding && !this.#rtoAt) this.#rtoAt = now + this.#rtt.rto;
  }

  #sendNew(len: number, fin: boolean, now: number): void {
    // With nothing in flight the timer, if set, is the persist timer: data gets a timeout of its own.
    const idle = !this.#board.outstanding;
    const s = this.#board.push(this.#nxt, len + (fin ? 1 : 0), fin);
    this.#nxt = seqAdd(this.#nxt, s.len);
    if (fin) this.#finSeq = seqAdd(s.seq, len);
    this.#transmit(s, now);
    if (idle || !this.#rtoAt) this.#rtoAt = now + this.#rtt.rto;
    this.#armProbe(now);
  }

  #transmit(s: Sent, now: number): void {
    this.#board.transmitted(s, now);
    const dataLen = s.len - (s.fin ? 1 : 0);
    const data = dataLen ? this.#queue.slice(seqDiff(s.seq, this.#una), dataLen) : EMPTY;
    this.stats.bytesSent += dataLen;
    this.#out.send(s.seq, data, s.fin);
  }
}

/** Whether the cumulative ACK or a SACK block (end exclusive) covers sequence number `seq`. */
function covers(ack: number, sack: readonly SackBlock[], seq: number): boolean {
  return seqLt(seq, ack) || sack.some((b) => seqLte(b.start, seq) && seqLt(seq, b.end));
}
