/**
 * One reliable, ordered, flow-controlled byte stream, without I/O: it takes packets, the
 * program's calls and the time, and answers with packets and events. It never reads a clock or
 * sets a timer; `now` comes with every input that needs it, `nextTimeout()` says when it next
 * needs the time, and `onTimeout(now)` gives it (the shell in `connection.ts` does both).
 *
 * Sequence numbers count bytes from a random initial number; SYN and FIN each take one. Every
 * packet after the SYN acknowledges what has arrived in order and advertises the receive window
 * (in KiB). This file holds the phases (handshake, established, closing, lingering, reset),
 * acknowledgements, flow control and the timers; the parts under it are the send scoreboard
 * (`scoreboard.ts`), congestion control (`congestion.ts`), the receive side's reassembly
 * (`reassembly.ts`) and the round-trip estimate (`rtt.ts`). The retransmission timer follows
 * RFC 6298; before it, a tail-loss probe (RFC 8985 §7) after two round trips of silence sends one
 * segment to draw the SACK that finds a lost tail.
 */
import { PilotError } from "../../errors.ts";
import { FLAG } from "../../wire/packet.ts";
import type { SackBlock } from "../../wire/segment.ts";
import { ByteQueue } from "./byte-queue.ts";
import { type CongestionControl, NewReno } from "./congestion.ts";
import { Reassembly } from "./reassembly.ts";
import { RttEstimator } from "./rtt.ts";
import { Scoreboard, type Sent } from "./scoreboard.ts";
import { seqAdd, seqDiff, seqLt, seqLte } from "./seq.ts";

/** Where a connection's incoming bytes go: the program's socket, or a built-in service. */
export interface ConnectionSink {
  /** In-order data. The sink calls `consumed(n)` once the program has taken it. */
  deliver(data: Buffer): void;
  /** The peer has finished sending. */
  finish(): void;
  /** The connection is over with an error; nothing more will come. */
  fail(error: PilotError): void;
  /** The peer acknowledged bytes, so the send buffer has room for more. */
  writable(): void;
}

export interface StreamSegment {
  flags: number;
  seq: number;
  ack: number;
  window: number;
  sack: SackBlock[];
  data: Buffer;
}

/** What the engine asks of whoever runs it. */
export interface EngineHost {
  send(segment: StreamSegment): void;
  /** Sends an acknowledgement (`flushAck`) at the end of this turn, with any others due. */
  ackSoon(): void;
  /** The handshake completed. */
  opened(): void;
  /** A retransmission timed out: the peer may have restarted and lost our tunnel's keys. */
  stalled(): void;
  /** The connection is gone. */
  closed(error?: PilotError): void;
  /** Takes `n` bytes from the receive budget (the peer's and the daemon's); false if it is spent. */
  reserve(n: number): boolean;
  release(n: number): void;
}

export interface ConnectionSettings {
  mss: number;
  receiveBuffer: number;
  sendBuffer: number;
  keepaliveMs: number;
  deadAfterMs: number;
  lingerMs: number;
}

export type Phase = "syn_sent" | "syn_received" | "open" | "closed";

const EMPTY = Buffer.alloc(0);
const WINDOW_UNIT = 1024;
const MAX_WINDOW_UNITS = 0xffff;
const DELAYED_ACK_MS = 20;
/** Received bytes that are acknowledged at once, whatever the segment count. */
const ACK_EVERY_BYTES = 65_536;
/** Timeouts in a row that give the peer up for dead: with backoff, 26 s at the 50 ms floor, longer on slower paths. */
const MAX_TIMEOUTS = 8;
/** SYN (or SYN|ACK) transmissions before giving up, 63 s after the first: enough for a lossy path. */
const MAX_SYN_TRIES = 6;

/** The earlier of two deadlines, where 0 is none. */
const earliest = (a: number, b: number) => (a && (!b || a < b) ? a : b);

export class ConnectionEngine {
  readonly peer: number;
  readonly remotePort: number;
  readonly rtt = new RttEstimator();
  phase: Phase;
  readonly stats = { bytesSent: 0, bytesReceived: 0, segmentsSent: 0, segmentsReceived: 0, retransmits: 0, lossEpisodes: 0, timeouts: 0 };
  lastHeard: number;
  readonly #host: EngineHost;
  readonly #s: ConnectionSettings;
  #sink: ConnectionSink | null = null;

  // Sending.
  readonly #iss: number;
  #sndUna: number;
  #sndNxt: number;
  /** Bytes from #sndUna on: in flight, then not yet sent. */
  readonly #out = new ByteQueue();
  readonly #board = new Scoreboard();
  readonly #congestion: CongestionControl;
  #peerEdge: number;
  #maxPeerWindow = 0;
  #timeouts = 0;
  #finQueued = false;
  #finSeq = -1;
  #finAcked = false;
  #lastProbe = 0;
  #synTries = 0;
  #synSentAt = 0;
  /** A tail-loss probe is out and no ACK has come since. */
  #probing = false;

  // Receiving.
  readonly #in: Reassembly;
  #advertisedEdge = 0;
  /** Bytes handed to the sink (or waiting for it) that it has not consumed yet. */
  #unread = 0;
  /** In-order data that arrived before the program attached; null once it has (or never will). */
  #waiting: Buffer[] | null = [];
  #finDelivered = false;
  /** Bytes received in order since the last ACK went out. */
  #ackOwed = 0;
  #ackDue = false;
  #lingerUntil = 0;
  /** Removed from the table; its budget is returned. */
  #gone = false;
  #failure: PilotError | undefined;

  // Deadlines, in the caller's milliseconds; 0 when not set (a deadline is always later than some `now` ≥ 0).
  /** Retransmission: of the SYN, of data, or the window probe (persist). */
  #rtoAt = 0;
  /** RACK's reordering window: a segment may pass the time threshold then. */
  #lossAt = 0;
  #probeAt = 0;
  #ackAt = 0;

  constructor(host: EngineHost, settings: ConnectionSettings, peer: number, remotePort: number, iss: number, phase: "syn_sent" | "syn_received", now: number) {
    this.#host = host;
    this.#s = settings;
    this.peer = peer;
    this.remotePort = remotePort;
    this.#iss = iss;
    this.#sndUna = iss;
    this.#sndNxt = seqAdd(iss, 1);
    this.#peerEdge = this.#sndNxt;
    this.phase = phase;
    this.lastHeard = now;
    this.#congestion = new NewReno(settings.mss);
    this.#in = new Reassembly({
      deliver: (data) => this.#deliver(data),
      finish: () => this.#finish(),
      release: (n) => host.release(n),
    });
  }

  // ── Time ──

  /** The earliest deadline the engine has set, or null if it needs no timer. */
  nextTimeout(): number | null {
    return earliest(earliest(this.#ackAt, this.#lossAt), earliest(this.#probeAt, this.#rtoAt)) || null;
  }

  /** Runs whatever is due at `now`: each handler clears or moves its deadline first. */
  onTimeout(now: number): void {
    if (this.#ackAt && this.#ackAt <= now) {
      this.#ackAt = 0;
      this.#ackDue = true;
      this.flushAck();
    }
    if (this.#lossAt && this.#lossAt <= now) {
      this.#lossAt = 0;
      this.#onLossTimer(now);
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

  // ── Opening ──

  /** Active open: sends the SYN. */
  connect(now: number): void {
    this.#sendSyn(now);
  }

  /** Passive open on a SYN: remembers the peer's numbers and answers SYN|ACK. */
  answer(syn: StreamSegment, now: number): void {
    this.#in.start(syn.seq);
    this.#advertisedEdge = this.#in.next;
    this.#sendSyn(now);
  }

  #sendSyn(now: number): void {
    const flags = this.phase === "syn_sent" ? FLAG.syn : FLAG.syn | FLAG.ack;
    this.#synTries++;
    this.#synSentAt = now;
    this.#emit(flags, this.#iss, EMPTY);
    this.#rtoAt = now + this.rtt.rto;
  }

  // ── The program's side ──

  /**
   * Queues bytes to send; false once the send buffer is full (wait for `sink.writable`). Only
   * whole segments go at once: the runner calls `flush` at the end of the turn for the rest.
   */
  write(data: Buffer, now: number): boolean {
    if (this.#finQueued || this.phase === "closed") return false;
    this.#out.push(data);
    this.#pump(false, now);
    return this.#out.length < this.#s.sendBuffer;
  }

  /** Sends what the windows allow, a last partial segment included. */
  flush(now: number): void {
    this.#pump(true, now);
  }

  /** Bytes written and not yet acknowledged by the peer. */
  get buffered(): number {
    return this.#out.length;
  }

  /** Bytes `write` may still take before the send buffer is full. */
  get room(): number {
    return this.#s.sendBuffer - this.#out.length;
  }

  /** Half-close: a FIN follows the queued data. */
  end(now: number): void {
    if (this.#finQueued || this.phase === "closed") return;
    this.#finQueued = true;
    this.#pump(true, now);
  }

  /** Aborts: tells the peer with a RST and forgets the connection (failing the program with `error`, if given). */
  reset(error?: PilotError): void {
    if (this.#gone) return;
    if (this.phase !== "closed") this.#emit(FLAG.rst | FLAG.ack, this.#sndNxt, EMPTY);
    this.#close(error);
  }

  /** Connects the program; data that arrived before it did is handed over now. */
  attach(sink: ConnectionSink): void {
    if (this.#gone) return sink.fail(this.#failure ?? new PilotError("connection_reset", `the connection to node ${this.peer} closed before it was picked up`, "connect again"));
    this.#sink = sink;
    const waiting = this.#waiting ?? [];
    this.#waiting = null;
    for (const data of waiting) sink.deliver(data);
    if (this.#in.finished && !this.#finDelivered) {
      this.#finDelivered = true;
      sink.finish();
    }
  }

  /**
   * The program went away. After both sides finished that is the normal end; otherwise nobody
   * will read what the peer sends, so the peer is told with a RST, as TCP does.
   */
  detach(): void {
    this.#sink = null;
    if (this.phase === "closed") return;
    if (this.#finQueued && this.#in.finished) return;
    this.reset();
  }

  /** The sink has taken `n` bytes: the window opens again. */
  consumed(n: number): void {
    if (this.#gone) return;
    this.#unread -= n;
    this.#host.release(n);
    if (this.phase !== "open") return;
    const edge = seqAdd(this.#in.next, this.#windowUnits() * WINDOW_UNIT);
    if (seqDiff(edge, this.#advertisedEdge) >= this.#s.receiveBuffer / 4) this.#ackSoon();
  }

  /** Ends the connection locally, lingering or not, without a word to the peer (its tunnel is gone or forbidden). */
  fail(error: PilotError): void {
    this.#close(error);
  }

  // ── Packets from the peer ──

  receive(p: StreamSegment, now: number): void {
    this.lastHeard = now;
    this.stats.segmentsReceived++;
    if (p.flags & FLAG.rst) return this.#onReset(p);
    if (this.phase === "closed") {
      // Lingering: the peer may not have our last ACK.
      if (p.data.length || p.flags & FLAG.fin) this.#ackSoon();
      return;
    }
    if (this.phase === "syn_sent") return this.#onSynAck(p, now);
    if (p.flags & FLAG.syn) {
      // A retransmitted SYN or SYN|ACK: our answer to it was lost.
      if (this.phase === "syn_received" && seqAdd(p.seq, 1) === this.#in.next) this.#sendSyn(now);
      else if (this.phase === "open") this.#ackSoon();
      return;
    }
    if (!(p.flags & FLAG.ack)) return;
    if (this.phase === "syn_received") {
      if (p.ack !== seqAdd(this.#iss, 1)) return;
      this.#established(now, p);
      // Refused on arrival (a full backlog, a listener gone): nothing more is taken from this packet.
      if (this.#gone) return;
    }
    this.#onAck(p, now);
    if (p.data.length || p.flags & FLAG.fin) this.#onData(p.seq, p.data, (p.flags & FLAG.fin) !== 0, now);
    else if (seqLt(p.seq, this.#in.next)) this.#ackSoon();
  }

  #onSynAck(p: StreamSegment, now: number): void {
    if ((p.flags & (FLAG.syn | FLAG.ack)) !== (FLAG.syn | FLAG.ack) || p.ack !== seqAdd(this.#iss, 1)) return;
    this.#in.start(p.seq);
    this.#advertisedEdge = this.#in.next;
    this.#established(now, p);
    this.#ackSoon();
  }

  #established(now: number, p: StreamSegment): void {
    if (this.#synTries === 1) this.rtt.sample(now - this.#synSentAt);
    this.phase = "open";
    this.#sndUna = seqAdd(this.#iss, 1);
    this.#peerEdge = seqAdd(this.#sndUna, p.window * WINDOW_UNIT);
    this.#rtoAt = 0;
    this.rtt.resetBackoff();
    this.#host.opened();
  }

  #onReset(p: StreamSegment): void {
    const acceptable =
      this.phase === "syn_sent"
        ? (p.flags & FLAG.ack) !== 0 && p.ack === seqAdd(this.#iss, 1)
        : seqLte(this.#in.next, p.seq) && seqLte(p.seq, seqAdd(this.#advertisedEdge, 1));
    if (!acceptable || this.phase === "closed") return;
    this.#close(
      this.phase === "syn_sent"
        ? new PilotError("connection_refused", `node ${this.peer} refused a connection to port ${this.remotePort}`, "nothing listens on that port; check the port, or start a listener there")
        : new PilotError("connection_reset", `node ${this.peer} reset the connection`, "the program on the other side closed it or went away; connect again"),
    );
  }

  // ── Acknowledgements, loss and timeouts ──

  #onAck(p: StreamSegment, now: number): void {
    const ack = p.ack;
    if (seqLt(this.#sndNxt, ack)) return this.#ackSoon();
    if (seqLt(ack, this.#sndUna)) return;
    this.#peerEdge = seqAdd(ack, p.window * WINDOW_UNIT);
    this.#maxPeerWindow = Math.max(this.#maxPeerWindow, p.window * WINDOW_UNIT);
    const advanced = seqDiff(ack, this.#sndUna);
    const delivery = this.#board.acknowledge(ack, p.sack);
    if (advanced > 0) {
      this.#out.drop(Math.min(advanced, this.#out.length));
      this.#sndUna = ack;
      this.#timeouts = 0;
      this.rtt.resetBackoff();
      if (this.#finSeq !== -1 && seqLt(this.#finSeq, ack)) this.#finAcked = true;
    }
    if (delivery) {
      // Karn: only a segment sent once gives an unambiguous round trip.
      if (delivery.newest.xmits === 1) this.rtt.sample(now - delivery.newest.sentAt);
      this.#congestion.onDelivered(delivery.bytes, delivery.newest.sentAt, this.#board.pipe, now);
      this.#detectLoss(now);
    }
    if (advanced > 0) this.#rtoAt = this.#board.outstanding ? now + this.rtt.rto : 0;
    if (delivery || advanced > 0) {
      this.#probing = false;
      this.#probeAt = 0;
    }
    if (advanced > 0) this.#sink?.writable();
    this.#pump(true, now);
    if (this.#board.outstanding) this.#armProbe(now);
    this.#maybeDone(now);
  }

  #detectLoss(now: number): void {
    const scan = this.#board.detectLoss(now, this.rtt);
    this.#lossAt = scan.recheckAt ?? 0;
    if (scan.newestLost !== null && this.#congestion.onLoss(scan.newestLost, now)) this.stats.lossEpisodes++;
  }

  #onLossTimer(now: number): void {
    if (this.phase === "closed") return;
    this.#detectLoss(now);
    this.#pump(true, now);
  }

  #onRto(now: number): void {
    if (this.phase === "closed") return;
    if (this.phase !== "open") {
      if (this.#synTries >= MAX_SYN_TRIES) {
        return this.#close(new PilotError("timeout", `node ${this.peer} did not answer a connection to port ${this.remotePort}`, "it may be offline, or may not accept connections from this node"));
      }
      this.rtt.backOff();
      this.#host.stalled();
      return this.#sendSyn(now);
    }
    if (!this.#board.outstanding) return this.#probe(now);
    this.stats.timeouts++;
    if (++this.#timeouts >= MAX_TIMEOUTS) {
      return this.#close(new PilotError("timeout", `node ${this.peer} stopped acknowledging data`, "it may be offline or unreachable; connect again later"));
    }
    this.rtt.backOff();
    this.#host.stalled();
    this.#congestion.onTimeout(this.#board.pipe + this.#board.lostCount * this.#s.mss, now);
    this.#board.timeout();
    this.#pump(true, now);
    this.#rtoAt = now + this.rtt.rto;
  }

  /**
   * Nothing in flight but the peer's window is closed (or the line has been quiet): an empty
   * segment one byte behind, which any live peer answers with an ACK carrying its window.
   */
  #probe(now: number): void {
    this.#lastProbe = now;
    this.#emit(FLAG.ack, seqAdd(this.#sndNxt, -1), EMPTY);
    if (this.#blockedByWindow()) {
      this.rtt.backOff();
      this.#rtoAt = now + this.rtt.rto;
    }
  }

  #blockedByWindow(): boolean {
    const unsent = this.#out.length - seqDiff(this.#sndNxt, this.#sndUna);
    return (unsent > 0 || (this.#finQueued && this.#finSeq === -1)) && !this.#board.outstanding;
  }

  /** RFC 8985 §7.2: two round trips, more if a lone segment may wait for a delayed ACK. */
  #armProbe(now: number): void {
    if (this.#probing || !this.rtt.hasSample || this.#probeAt) return;
    let pto = 2 * this.rtt.srtt;
    if (this.#board.pipe <= this.#s.mss) pto = Math.max(pto, 1.5 * this.rtt.srtt + DELAYED_ACK_MS);
    if (now + pto < this.#rtoAt) this.#probeAt = now + pto;
  }

  #onProbeTimer(now: number): void {
    if (this.phase !== "open" || !this.#board.outstanding) return;
    this.#probing = true;
    const sentBefore = this.#board.transmissions;
    this.#pump(true, now);
    if (this.#board.transmissions !== sentBefore) return;
    // No new data could go: send the last segment again.
    const last = this.#board.lastUnsacked();
    if (!last) return;
    this.stats.retransmits++;
    this.#transmit(last, now);
  }

  // ── Sending data ──

  /** Sends what congestion and flow control allow: lost segments first, then new data. */
  #pump(partial: boolean, now: number): void {
    if (this.phase !== "open") return;
    if (this.#board.lostCount > 0) {
      for (const s of this.#board.lost()) {
        if (!this.#congestion.canSend(this.#board.pipe, s.len)) return;
        this.stats.retransmits++;
        this.#transmit(s, now);
      }
    }
    const mss = this.#s.mss;
    for (;;) {
      if (this.#finSeq !== -1) return;
      const offset = seqDiff(this.#sndNxt, this.#sndUna);
      const unsent = this.#out.length - offset;
      if (unsent === 0) {
        if (this.#finQueued) this.#sendNew(0, true, now);
        return;
      }
      let len = Math.min(mss, unsent);
      if (len < mss && !partial && !this.#finQueued) return;
      const room = seqDiff(this.#peerEdge, this.#sndNxt);
      if (room < len) {
        // Sender-side silly-window avoidance: a sliver of window is not worth a segment.
        if (room <= 0 || room < Math.min(mss, this.#maxPeerWindow / 2)) return this.#awaitWindow(now);
        len = room;
      }
      if (!this.#congestion.canSend(this.#board.pipe, len)) return;
      this.#sendNew(len, this.#finQueued && len === unsent, now);
    }
  }

  #awaitWindow(now: number): void {
    if (!this.#board.outstanding && !this.#rtoAt) this.#rtoAt = now + this.rtt.rto;
  }

  #sendNew(len: number, fin: boolean, now: number): void {
    // With nothing in flight the timer, if set, is the persist timer: data gets a timeout of its own.
    const idle = !this.#board.outstanding;
    const s = this.#board.push(this.#sndNxt, len + (fin ? 1 : 0), fin);
    this.#sndNxt = seqAdd(this.#sndNxt, s.len);
    if (fin) this.#finSeq = seqAdd(s.seq, len);
    this.#transmit(s, now);
    if (idle || !this.#rtoAt) this.#rtoAt = now + this.rtt.rto;
    this.#armProbe(now);
  }

  #transmit(s: Sent, now: number): void {
    this.#board.transmitted(s, now);
    const dataLen = s.len - (s.fin ? 1 : 0);
    const data = dataLen ? this.#out.slice(seqDiff(s.seq, this.#sndUna), dataLen) : EMPTY;
    this.stats.bytesSent += dataLen;
    this.#emit(s.fin ? FLAG.ack | FLAG.fin : FLAG.ack, s.seq, data);
  }

  /** Every packet carries the cumulative ACK and the window, so it also settles any ACK owed. */
  #emit(flags: number, seq: number, data: Buffer): void {
    this.#ackOwed = 0;
    this.#ackDue = false;
    this.#ackAt = 0;
    const units = this.#windowUnits();
    // Data up to the furthest edge ever offered is accepted (RFC 9293 §3.8.6), even where rounding
    // to KiB offers up to 1,023 bytes less in a later packet.
    const edge = seqAdd(this.#in.next, units * WINDOW_UNIT);
    if (this.phase !== "syn_sent" && seqLt(this.#advertisedEdge, edge)) this.#advertisedEdge = edge;
    this.stats.segmentsSent++;
    this.#host.send({ flags, seq, ack: flags & FLAG.ack ? this.#in.next : 0, window: units, sack: data.length ? [] : this.#in.sackBlocks(), data });
  }

  #ackSoon(): void {
    this.#ackDue = true;
    this.#host.ackSoon();
  }

  /** Sends the ACK asked for, unless a packet since has carried it (the host calls this once per turn). */
  flushAck(): void {
    if (!this.#ackDue || this.phase === "syn_sent" || this.phase === "syn_received" || this.#gone) return;
    this.#emit(FLAG.ack, this.#sndNxt, EMPTY);
  }

  // ── Receiving data ──

  /**
   * The buffer less what the program has not read. Out-of-order data lies inside the window
   * already offered, so it does not shrink it (and the window bounds it): the right edge moves
   * only forward, as the program reads.
   */
  #windowUnits(): number {
    const free = this.#s.receiveBuffer - this.#unread;
    return Math.max(0, Math.min(MAX_WINDOW_UNITS, Math.floor(free / WINDOW_UNIT)));
  }

  #onData(seq: number, data: Buffer, fin: boolean, now: number): void {
    if (this.#gone) return;
    if (this.#in.stale(seq, data.length, fin)) return this.#ackSoon();
    // Nothing beyond the window we offered is kept: it bounds what a peer can make us hold.
    if (seqLt(this.#advertisedEdge, seqAdd(seq, data.length)) || !this.#host.reserve(data.length)) return this.#ackSoon();
    const arrival = this.#in.take(seq, data, fin);
    if (!arrival) return this.#ackSoon();
    this.#ackOwed += arrival.bytes;
    if (arrival.filledGap || this.#in.finished || this.#ackOwed >= Math.min(2 * this.#s.mss, ACK_EVERY_BYTES)) this.#ackSoon();
    else this.#ackAt = now + DELAYED_ACK_MS;
    this.#maybeDone(now);
  }

  /** In-order bytes (already counted against the budget) go to the program. */
  #deliver(data: Buffer): void {
    this.#unread += data.length;
    this.stats.bytesReceived += data.length;
    if (this.#sink) this.#sink.deliver(data);
    else if (this.#waiting) this.#waiting.push(data);
    else this.consumed(data.length);
  }

  #finish(): void {
    if (!this.#sink) return;
    this.#finDelivered = true;
    this.#sink.finish();
  }

  // ── Ending ──

  #maybeDone(now: number): void {
    if (this.phase !== "open" || !this.#finAcked || !this.#in.finished) return;
    this.phase = "closed";
    this.#lingerUntil = now + this.#s.lingerMs;
    this.#clearDeadlines();
  }

  #clearDeadlines(): void {
    this.#rtoAt = this.#lossAt = this.#probeAt = this.#ackAt = 0;
  }

  /** Called by the host's sweep: keepalives, dead peers, and the end of lingering. */
  tick(now: number): void {
    if (this.phase === "closed") {
      if (now >= this.#lingerUntil) this.#close();
      return;
    }
    const silent = now - this.lastHeard;
    if (silent >= this.#s.deadAfterMs) {
      this.#close(new PilotError("timeout", `node ${this.peer} has been silent for ${Math.round(silent / 1000)} s`, "it may be offline or unreachable; connect again later"));
    } else if (this.phase === "open" && silent >= this.#s.keepaliveMs && now - this.#lastProbe >= this.#s.keepaliveMs && !this.#board.outstanding) {
      this.#probe(now);
    }
  }

  #close(error?: PilotError): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#failure = error;
    const wasOpen = this.phase !== "closed";
    this.phase = "closed";
    this.#clearDeadlines();
    this.#host.release(this.#in.clear() + this.#unread);
    this.#unread = 0;
    this.#waiting = null;
    if (error && wasOpen) this.#sink?.fail(error);
    this.#sink = null;
    this.#host.closed(error);
  }

  /** The TCP state name for this connection, for `pilotctl connections`. */
  get state(): string {
    if (this.phase === "syn_sent") return "SYN_SENT";
    if (this.phase === "syn_received") return "SYN_RECV";
    if (this.phase === "closed") return "TIME_WAIT";
    if (this.#finSeq === -1) return this.#in.finished ? "CLOSE_WAIT" : "ESTABLISHED";
    if (!this.#in.finished) return this.#finAcked ? "FIN_WAIT_2" : "FIN_WAIT_1";
    return "LAST_ACK";
  }

  describe() {
    return {
      state: this.state,
      cwnd: Math.round(this.#congestion.cwnd),
      ssthresh: Number.isFinite(this.#congestion.ssthresh) ? Math.round(this.#congestion.ssthresh) : null,
      in_flight: this.#board.pipe,
      srtt_ms: Math.round(this.rtt.srtt * 1000) / 1000,
      rto_ms: Math.round(this.rtt.rto),
      peer_window: Math.max(0, seqDiff(this.#peerEdge, this.#sndUna)),
      receive_window: this.#windowUnits() * WINDOW_UNIT,
      unacked: seqDiff(this.#sndNxt, this.#sndUna),
      send_buffered: this.#out.length,
      out_of_order: this.#in.held,
      unread: this.#unread,
      bytes_sent: this.stats.bytesSent,
      bytes_received: this.stats.bytesReceived,
      segments_sent: this.stats.segmentsSent,
      segments_received: this.stats.segmentsReceived,
      retransmits: this.stats.retransmits,
      loss_episodes: this.stats.lossEpisodes,
      timeouts: this.stats.timeouts,
    };
  }
}
