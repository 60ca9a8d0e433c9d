/**
 * One reliable, ordered, flow-controlled byte stream to a port on a peer, carried in stream
 * packets through the peer's encrypted tunnel.
 *
 * Sequence numbers count bytes from a random initial number; SYN and FIN each take one. Every
 * packet after the SYN acknowledges what has arrived in order and advertises the receive window
 * (in KiB). A receiver holding data beyond a gap reports it in SACK blocks; the sender keeps a
 * scoreboard of the segments in flight and declares one lost once three segments sent after it
 * have arrived, or once it is 9/8 of a round trip older than one that has (time-based, as RACK and
 * QUIC do, so a lost retransmission is found without waiting for the timer). The retransmission
 * timer follows RFC 6298; before it, a tail-loss probe (RFC 8985 §7) after two round trips of
 * silence sends one segment to draw the SACK that finds a lost tail. Congestion control is NewReno-style (RFC 5681, byte counting):
 * slow start, congestion avoidance, one halving per loss episode, one segment after a timeout.
 */
import { PilotError } from "../../errors.ts";
import { FLAG } from "../../wire/packet.ts";
import { MAX_SACK_BLOCKS, type SackBlock } from "../../wire/segment.ts";
import { ByteQueue } from "./byte-queue.ts";
import { Deadline } from "./deadline.ts";
import { RttEstimator } from "./rtt.ts";
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

/** What a connection needs from the table that holds it. */
export interface ConnectionHost {
  send(conn: Connection, segment: StreamSegment): void;
  /** Sends an acknowledgement at the end of this turn of the event loop, with any others due. */
  ackSoon(conn: Connection): void;
  /** The handshake completed. */
  opened(conn: Connection): void;
  /** A retransmission timed out: the peer may have restarted and lost our tunnel's keys. */
  stalled(conn: Connection): void;
  /** The connection is gone: remove it. */
  closed(conn: Connection, error?: PilotError): void;
  /** Takes `n` bytes from the receive budget (the peer's and the daemon's); false if it is spent. */
  reserve(conn: Connection, n: number): boolean;
  release(conn: Connection, n: number): void;
}

export interface ConnectionSettings {
  mss: number;
  receiveBuffer: number;
  sendBuffer: number;
  keepaliveMs: number;
  deadAfterMs: number;
  lingerMs: number;
}

type Phase = "syn_sent" | "syn_received" | "open" | "closed";

/** A segment in flight, in sequence space (a FIN counts one). */
interface Sent {
  seq: number;
  len: number;
  fin: boolean;
  /** Transmission number of the latest send: later sends have higher numbers. */
  xmit: number;
  sentAt: number;
  xmits: number;
  sacked: boolean;
  lost: boolean;
}

interface Stashed {
  seq: number;
  data: Buffer;
  fin: boolean;
}

const EMPTY = Buffer.alloc(0);
const WINDOW_UNIT = 1024;
const MAX_WINDOW_UNITS = 0xffff;
const DELAYED_ACK_MS = 20;
/** Received bytes that are acknowledged at once, whatever the segment count. */
const ACK_EVERY_BYTES = 65_536;
const PACKET_THRESHOLD = 3;
const TIME_THRESHOLD = 9 / 8;
/** Timeouts in a row that give the peer up for dead: with backoff, 26 s at the 50 ms floor, longer on slower paths. */
const MAX_TIMEOUTS = 8;
/** SYN (or SYN|ACK) transmissions before giving up, 63 s after the first: enough for a lossy path. */
const MAX_SYN_TRIES = 6;

export class Connection {
  readonly id: number;
  readonly peer: number;
  readonly localPort: number;
  readonly remotePort: number;
  readonly rtt = new RttEstimator();
  phase: Phase;
  sink: ConnectionSink | null = null;
  readonly stats = { bytesSent: 0, bytesReceived: 0, segmentsSent: 0, segmentsReceived: 0, retransmits: 0, lossEpisodes: 0, timeouts: 0 };
  lastHeard = performance.now();
  readonly #host: ConnectionHost;
  readonly #s: ConnectionSettings;

  // Sending.
  readonly #iss: number;
  #sndUna: number;
  #sndNxt: number;
  /** Bytes from #sndUna on: in flight, then not yet sent. */
  readonly #out = new ByteQueue();
  readonly #flight: Sent[] = [];
  /** Bytes in flight that are neither SACKed nor declared lost. */
  #pipe = 0;
  #lost = 0;
  #xmits = 0;
  /** The highest transmission number known to have arrived. */
  #largestDelivered = 0;
  #peerEdge: number;
  #maxPeerWindow = 0;
  cwnd: number;
  ssthresh = Infinity;
  #recoveryStart = -Infinity;
  #timeouts = 0;
  #finQueued = false;
  #finSeq = -1;
  #finAcked = false;
  #flushScheduled = false;
  #lastProbe = 0;
  #synTries = 0;
  #synSentAt = 0;

  // Receiving.
  #rcvNxt = 0;
  #advertisedEdge = 0;
  readonly #stash: Stashed[] = [];
  #stashBytes = 0;
  #lastStashed = 0;
  /** Bytes handed to the sink (or held for it) that it has not consumed yet. */
  #unread = 0;
  #held: Buffer[] | null = [];
  #peerFin = false;
  #finDelivered = false;
  /** Bytes received in order since the last ACK went out. */
  #ackOwed = 0;
  #ackDue = false;
  #lingerUntil = 0;
  /** Removed from the table; its budget is returned. */
  #gone = false;
  #failure: PilotError | undefined;

  readonly #rtoTimer = new Deadline(() => this.#onRto());
  readonly #lossTimer = new Deadline(() => this.#onLossTimer());
  readonly #probeTimer = new Deadline(() => this.#onProbeTimer());
  /** A tail-loss probe is out and no ACK has come since. */
  #probing = false;
  readonly #ackTimer = new Deadline(() => {
    this.#ackDue = true;
    this.flushAck();
  });

  constructor(host: ConnectionHost, settings: ConnectionSettings, id: number, peer: number, localPort: number, remotePort: number, iss: number, phase: "syn_sent" | "syn_received") {
    this.#host = host;
    this.#s = settings;
    this.id = id;
    this.peer = peer;
    this.localPort = localPort;
    this.remotePort = remotePort;
    this.#iss = iss;
    this.#sndUna = iss;
    this.#sndNxt = seqAdd(iss, 1);
    this.#peerEdge = this.#sndNxt;
    this.phase = phase;
    this.cwnd = Math.min(10 * settings.mss, Math.max(2 * settings.mss, 14_600));
  }

  // ── Opening ──

  /** Active open: sends the SYN. */
  connect(): void {
    this.#sendSyn();
  }

  /** Passive open on a SYN: remembers the peer's numbers and answers SYN|ACK. */
  answer(syn: StreamSegment): void {
    this.#rcvNxt = seqAdd(syn.seq, 1);
    this.#advertisedEdge = this.#rcvNxt;
    this.#sendSyn();
  }

  #sendSyn(): void {
    const flags = this.phase === "syn_sent" ? FLAG.syn : FLAG.syn | FLAG.ack;
    this.#synTries++;
    this.#synSentAt = performance.now();
    this.#emit(flags, this.#iss, EMPTY);
    this.#rtoTimer.set(performance.now() + this.rtt.rto);
  }

  // ── The program's side ──

  /** Queues bytes to send; false once the send buffer is full (wait for `sink.writable`). */
  write(data: Buffer): boolean {
    if (this.#finQueued || this.phase === "closed") return false;
    this.#out.push(data);
    this.#pump(false);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#pump(true);
      });
    }
    return this.#out.length < this.#s.sendBuffer;
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
  end(): void {
    if (this.#finQueued || this.phase === "closed") return;
    this.#finQueued = true;
    this.#pump(true);
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
    this.sink = sink;
    const held = this.#held ?? [];
    this.#held = null;
    for (const data of held) sink.deliver(data);
    if (this.#peerFin && !this.#finDelivered) {
      this.#finDelivered = true;
      sink.finish();
    }
  }

  /**
   * The program went away. After both sides finished that is the normal end; otherwise nobody
   * will read what the peer sends, so the peer is told with a RST, as TCP does.
   */
  detach(): void {
    this.sink = null;
    if (this.phase === "closed") return;
    if (this.#finQueued && this.#peerFin) return;
    this.reset();
  }

  /** The sink has taken `n` bytes: the window opens again. */
  consumed(n: number): void {
    if (this.#gone) return;
    this.#unread -= n;
    this.#host.release(this, n);
    if (this.phase !== "open") return;
    const edge = seqAdd(this.#rcvNxt, this.#windowUnits() * WINDOW_UNIT);
    if (seqDiff(edge, this.#advertisedEdge) >= this.#s.receiveBuffer / 4) this.#ackSoon();
  }

  /** Ends the connection locally, lingering or not, without a word to the peer (its tunnel is gone or forbidden). */
  fail(error: PilotError): void {
    this.#close(error);
  }

  // ── Packets from the peer ──

  receive(p: StreamSegment): void {
    const now = performance.now();
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
      if (this.phase === "syn_received" && seqAdd(p.seq, 1) === this.#rcvNxt) this.#sendSyn();
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
    else if (seqLt(p.seq, this.#rcvNxt)) this.#ackSoon();
  }

  #onSynAck(p: StreamSegment, now: number): void {
    if ((p.flags & (FLAG.syn | FLAG.ack)) !== (FLAG.syn | FLAG.ack) || p.ack !== seqAdd(this.#iss, 1)) return;
    this.#rcvNxt = seqAdd(p.seq, 1);
    this.#advertisedEdge = this.#rcvNxt;
    this.#established(now, p);
    this.#ackSoon();
  }

  #established(now: number, p: StreamSegment): void {
    if (this.#synTries === 1) this.rtt.sample(now - this.#synSentAt);
    this.phase = "open";
    this.#sndUna = seqAdd(this.#iss, 1);
    this.#peerEdge = seqAdd(this.#sndUna, p.window * WINDOW_UNIT);
    this.#rtoTimer.clear();
    this.rtt.resetBackoff();
    this.#host.opened(this);
  }

  #onReset(p: StreamSegment): void {
    const acceptable =
      this.phase === "syn_sent"
        ? (p.flags & FLAG.ack) !== 0 && p.ack === seqAdd(this.#iss, 1)
        : seqLte(this.#rcvNxt, p.seq) && seqLte(p.seq, seqAdd(this.#advertisedEdge, 1));
    if (!acceptable || this.phase === "closed") return;
    this.#close(
      this.phase === "syn_sent"
        ? new PilotError("connection_refused", `node ${this.peer} refused a connection to port ${this.remotePort}`, "nothing listens on that port; check the port, or start a listener there")
        : new PilotError("connection_reset", `node ${this.peer} reset the connection`, "the program on the other side closed it or went away; connect again"),
    );
  }

  // ── Acknowledgements, loss and congestion ──

  #onAck(p: StreamSegment, now: number): void {
    const ack = p.ack;
    if (seqLt(this.#sndNxt, ack)) return this.#ackSoon();
    if (seqLt(ack, this.#sndUna)) return;
    this.#peerEdge = seqAdd(ack, p.window * WINDOW_UNIT);
    this.#maxPeerWindow = Math.max(this.#maxPeerWindow, p.window * WINDOW_UNIT);
    let delivered = 0;
    let newest: Sent | undefined;
    const take = (s: Sent) => {
      this.#uncount(s);
      delivered += s.len;
      if (!newest || s.xmit > newest.xmit) newest = s;
    };
    const advanced = seqDiff(ack, this.#sndUna);
    if (advanced > 0) {
      while (this.#flight.length && seqLte(seqAdd(this.#flight[0]!.seq, this.#flight[0]!.len), ack)) {
        const s = this.#flight.shift()!;
        if (!s.sacked) take(s);
      }
      // Our receivers acknowledge whole segments; a peer that acknowledges part of one gets its head trimmed.
      const head = this.#flight[0];
      if (head && seqLt(head.seq, ack)) {
        const cut = seqDiff(ack, head.seq);
        if (!head.sacked && !head.lost) this.#pipe -= cut;
        head.seq = ack;
        head.len -= cut;
      }
      this.#out.drop(Math.min(advanced, this.#out.length));
      this.#sndUna = ack;
      this.#timeouts = 0;
      this.rtt.resetBackoff();
      if (this.#finSeq !== -1 && seqLt(this.#finSeq, ack)) this.#finAcked = true;
    }
    for (const block of p.sack) {
      // The flight is in sequence order: start at the first segment the block can cover.
      for (let i = this.#firstAtOrAfter(block.start); i < this.#flight.length; i++) {
        const s = this.#flight[i]!;
        if (seqLte(block.end, s.seq)) break;
        if (!s.sacked && seqLte(seqAdd(s.seq, s.len), block.end)) {
          s.sacked = true;
          take(s);
        }
      }
    }
    if (newest) {
      // Karn: only a segment sent once gives an unambiguous round trip.
      if (newest.xmits === 1) this.rtt.sample(now - newest.sentAt);
      this.#largestDelivered = Math.max(this.#largestDelivered, newest.xmit);
      this.#grow(delivered, newest.sentAt);
      this.#detectLoss(now);
    }
    if (advanced > 0) {
      if (this.#outstanding()) this.#rtoTimer.set(now + this.rtt.rto);
      else this.#rtoTimer.clear();
    }
    if (newest || advanced > 0) {
      this.#probing = false;
      this.#probeTimer.clear();
    }
    if (advanced > 0) this.sink?.writable();
    this.#pump(true);
    if (this.#outstanding()) this.#armProbe(now);
    this.#maybeDone(now);
  }

  #firstAtOrAfter(seq: number): number {
    let [lo, hi] = [0, this.#flight.length];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLt(this.#flight[mid]!.seq, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #grow(bytes: number, sentAt: number): void {
    // No growth during a loss episode, nor when the program, not the window, limits the flight.
    if (sentAt <= this.#recoveryStart || this.#pipe + bytes < this.cwnd / 2) return;
    if (this.cwnd < this.ssthresh) this.cwnd += bytes;
    else this.cwnd += (this.#s.mss * bytes) / this.cwnd;
  }

  #detectLoss(now: number): void {
    this.#lossTimer.clear();
    const delay = Math.max(1, TIME_THRESHOLD * Math.max(this.rtt.srtt, this.rtt.latest));
    let nextCheck = 0;
    for (const s of this.#flight) {
      if (s.xmit >= this.#largestDelivered) {
        // Sent once, after everything known delivered: so was every segment behind it (only
        // retransmissions break the order), so the scan ends here.
        if (s.xmits === 1) break;
        continue;
      }
      if (s.sacked || s.lost) continue;
      if (this.#largestDelivered - s.xmit >= PACKET_THRESHOLD || now - s.sentAt >= delay) {
        this.#markLost(s);
        this.#congestion(s.sentAt, now);
      } else if (!nextCheck || s.sentAt + delay < nextCheck) {
        nextCheck = s.sentAt + delay;
      }
    }
    if (nextCheck) this.#lossTimer.set(nextCheck);
  }

  #onLossTimer(): void {
    if (this.phase === "closed") return;
    this.#detectLoss(performance.now());
    this.#pump(true);
  }

  /** One reduction per episode: losses of segments sent before the last one belong to it. */
  #congestion(sentAt: number, now: number): void {
    if (sentAt <= this.#recoveryStart) return;
    this.#recoveryStart = now;
    this.stats.lossEpisodes++;
    this.ssthresh = Math.max(this.cwnd / 2, 2 * this.#s.mss);
    this.cwnd = this.ssthresh;
  }

  /** Declares a segment lost: out of the pipe, first in line to be sent again. */
  #markLost(s: Sent): void {
    s.lost = true;
    this.#pipe -= s.len;
    this.#lost++;
  }

  /** Takes a segment out of the counts (in the pipe, or lost), before it is delivered or sent again. */
  #uncount(s: Sent): void {
    if (!s.lost) return void (this.#pipe -= s.len);
    s.lost = false;
    this.#lost--;
  }

  #outstanding(): boolean {
    return this.#pipe > 0 || this.#lost > 0;
  }

  #onRto(): void {
    if (this.phase === "closed") return;
    const now = performance.now();
    if (this.phase !== "open") {
      if (this.#synTries >= MAX_SYN_TRIES) {
        return this.#close(new PilotError("timeout", `node ${this.peer} did not answer a connection to port ${this.remotePort}`, "it may be offline, or may not accept connections from this node"));
      }
      this.rtt.backOff();
      this.#host.stalled(this);
      return this.#sendSyn();
    }
    if (!this.#outstanding()) return this.#probe(now);
    this.stats.timeouts++;
    if (++this.#timeouts >= MAX_TIMEOUTS) {
      return this.#close(new PilotError("timeout", `node ${this.peer} stopped acknowledging data`, "it may be offline or unreachable; connect again later"));
    }
    this.rtt.backOff();
    this.#host.stalled(this);
    // RFC 5681 §3.1: ssthresh from the flight size, then one segment at a time.
    this.ssthresh = Math.max((this.#pipe + this.#lost * this.#s.mss) / 2, 2 * this.#s.mss);
    this.cwnd = this.#s.mss;
    this.#recoveryStart = now;
    for (const s of this.#flight) if (!s.sacked && !s.lost) this.#markLost(s);
    this.#pump(true);
    this.#rtoTimer.set(now + this.rtt.rto);
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
      this.#rtoTimer.set(now + this.rtt.rto);
    }
  }

  #blockedByWindow(): boolean {
    const unsent = this.#out.length - seqDiff(this.#sndNxt, this.#sndUna);
    return (unsent > 0 || (this.#finQueued && this.#finSeq === -1)) && !this.#outstanding();
  }

  // ── Sending data ──

  /** Sends what congestion and flow control allow: lost segments first, then new data. */
  #pump(partial: boolean): void {
    if (this.phase !== "open") return;
    if (this.#lost > 0) {
      for (const s of this.#flight) {
        if (!s.lost) continue;
        if (this.#pipe > 0 && this.#pipe + s.len > this.cwnd) return;
        this.#uncount(s);
        this.stats.retransmits++;
        this.#transmit(s);
      }
    }
    const mss = this.#s.mss;
    for (;;) {
      if (this.#finSeq !== -1) return;
      const offset = seqDiff(this.#sndNxt, this.#sndUna);
      const unsent = this.#out.length - offset;
      if (unsent === 0) {
        if (this.#finQueued) this.#sendNew(0, true);
        return;
      }
      let len = Math.min(mss, unsent);
      if (len < mss && !partial && !this.#finQueued) return;
      const room = seqDiff(this.#peerEdge, this.#sndNxt);
      if (room < len) {
        // Sender-side silly-window avoidance: a sliver of window is not worth a segment.
        if (room <= 0 || room < Math.min(mss, this.#maxPeerWindow / 2)) return this.#awaitWindow();
        len = room;
      }
      if (this.#pipe > 0 && this.#pipe + len > this.cwnd) return;
      this.#sendNew(len, this.#finQueued && len === unsent);
    }
  }

  #awaitWindow(): void {
    if (!this.#outstanding() && !this.#rtoTimer.at) this.#rtoTimer.set(performance.now() + this.rtt.rto);
  }

  #sendNew(len: number, fin: boolean): void {
    const s: Sent = { seq: this.#sndNxt, len: len + (fin ? 1 : 0), fin, xmit: 0, sentAt: 0, xmits: 0, sacked: false, lost: false };
    // With nothing in flight the timer, if set, is the persist timer: data gets a timeout of its own.
    const idle = !this.#outstanding();
    this.#flight.push(s);
    this.#sndNxt = seqAdd(this.#sndNxt, s.len);
    if (fin) this.#finSeq = seqAdd(s.seq, len);
    this.#transmit(s);
    if (idle || !this.#rtoTimer.at) this.#rtoTimer.set(s.sentAt + this.rtt.rto);
    this.#armProbe(s.sentAt);
  }

  /** RFC 8985 §7.2: two round trips, more if a lone segment may wait for a delayed ACK. */
  #armProbe(now: number): void {
    if (this.#probing || !this.rtt.hasSample || this.#probeTimer.at) return;
    let pto = 2 * this.rtt.srtt;
    if (this.#pipe <= this.#s.mss) pto = Math.max(pto, 1.5 * this.rtt.srtt + DELAYED_ACK_MS);
    if (now + pto < this.#rtoTimer.at) this.#probeTimer.set(now + pto);
  }

  #onProbeTimer(): void {
    if (this.phase !== "open" || !this.#outstanding()) return;
    this.#probing = true;
    const sentBefore = this.#xmits;
    this.#pump(true);
    if (this.#xmits !== sentBefore) return;
    // No new data could go: send the last segment again.
    const last = this.#flight.findLast((s) => !s.sacked);
    if (!last) return;
    this.#uncount(last);
    this.stats.retransmits++;
    this.#transmit(last);
  }

  #transmit(s: Sent): void {
    s.xmit = ++this.#xmits;
    s.sentAt = performance.now();
    s.xmits++;
    this.#pipe += s.len;
    const dataLen = s.len - (s.fin ? 1 : 0);
    const data = dataLen ? this.#out.slice(seqDiff(s.seq, this.#sndUna), dataLen) : EMPTY;
    this.stats.bytesSent += dataLen;
    this.#emit(s.fin ? FLAG.ack | FLAG.fin : FLAG.ack, s.seq, data);
  }

  /** Every packet carries the cumulative ACK and the window, so it also settles any ACK owed. */
  #emit(flags: number, seq: number, data: Buffer): void {
    this.#ackOwed = 0;
    this.#ackDue = false;
    this.#ackTimer.clear();
    const units = this.#windowUnits();
    // Data up to the furthest edge ever offered is accepted (RFC 9293 §3.8.6), even where rounding
    // to KiB offers up to 1,023 bytes less in a later packet.
    const edge = seqAdd(this.#rcvNxt, units * WINDOW_UNIT);
    if (this.phase !== "syn_sent" && seqLt(this.#advertisedEdge, edge)) this.#advertisedEdge = edge;
    this.stats.segmentsSent++;
    this.#host.send(this, { flags, seq, ack: flags & FLAG.ack ? this.#rcvNxt : 0, window: units, sack: data.length ? [] : this.#sackBlocks(), data });
  }

  #ackSoon(): void {
    this.#ackDue = true;
    this.#host.ackSoon(this);
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
    let offset = seqDiff(seq, this.#rcvNxt);
    if (offset + data.length + (fin ? 1 : 0) <= 0 || this.#peerFin) return this.#ackSoon();
    // Nothing beyond the window we offered is kept: it bounds what a peer can make us hold.
    if (seqLt(this.#advertisedEdge, seqAdd(seq, data.length)) || !this.#host.reserve(this, data.length)) return this.#ackSoon();
    if (offset < 0) {
      this.#host.release(this, -offset);
      data = data.subarray(-offset);
      seq = this.#rcvNxt;
      offset = 0;
    }
    if (offset > 0) {
      this.#stashSegment(seq, data, fin);
      return this.#ackSoon();
    }
    const gapFilled = this.#stash.length > 0;
    this.#accept(data, fin);
    this.#drainStash();
    this.#ackOwed += data.length;
    if (gapFilled || this.#peerFin || this.#ackOwed >= Math.min(2 * this.#s.mss, ACK_EVERY_BYTES)) this.#ackSoon();
    else this.#ackTimer.set(now + DELAYED_ACK_MS);
    this.#maybeDone(now);
  }

  /** In-order bytes (already counted against the budget) go to the program. */
  #accept(data: Buffer, fin: boolean): void {
    if (data.length) {
      this.#rcvNxt = seqAdd(this.#rcvNxt, data.length);
      this.#unread += data.length;
      this.stats.bytesReceived += data.length;
      if (this.sink) this.sink.deliver(data);
      else if (this.#held) this.#held.push(data);
      else this.consumed(data.length);
    }
    if (fin) {
      this.#rcvNxt = seqAdd(this.#rcvNxt, 1);
      this.#peerFin = true;
      if (this.sink) {
        this.#finDelivered = true;
        this.sink.finish();
      }
    }
  }

  /**
   * Keeps a segment that arrived beyond a gap. Only bytes not already held are kept (and counted):
   * overlapping segments cannot make us hold more than the window.
   */
  #stashSegment(seq: number, data: Buffer, fin: boolean): void {
    const stash = this.#stash;
    let i = 0;
    while (i < stash.length && seqLt(stash[i]!.seq, seq)) i++;
    const prev = stash[i - 1];
    const prevEnd = prev && seqAdd(prev.seq, prev.data.length);
    if (prevEnd !== undefined && seqLt(seq, prevEnd)) {
      const cut = Math.min(seqDiff(prevEnd, seq), data.length);
      this.#host.release(this, cut);
      data = data.subarray(cut);
      seq = seqAdd(seq, cut);
    }
    const end = seqAdd(seq, data.length);
    while (i < stash.length && !stash[i]!.fin && seqLte(seqAdd(stash[i]!.seq, stash[i]!.data.length), end)) {
      const covered = stash.splice(i, 1)[0]!;
      this.#stashBytes -= covered.data.length;
      this.#host.release(this, covered.data.length);
    }
    const next = stash[i];
    if (next && seqLt(next.seq, end)) {
      const cut = seqDiff(end, next.seq);
      this.#host.release(this, cut);
      data = data.subarray(0, data.length - cut);
      fin = false;
    }
    if (data.length === 0 && !fin) return;
    stash.splice(i, 0, { seq, data, fin });
    this.#stashBytes += data.length;
    this.#lastStashed = seq;
  }

  #drainStash(): void {
    while (this.#stash.length && seqLte(this.#stash[0]!.seq, this.#rcvNxt)) {
      const s = this.#stash.shift()!;
      this.#stashBytes -= s.data.length;
      const skip = seqDiff(this.#rcvNxt, s.seq);
      if (skip > s.data.length || (skip === s.data.length && !s.fin) || this.#peerFin) {
        this.#host.release(this, s.data.length);
        continue;
      }
      this.#host.release(this, skip);
      this.#accept(s.data.subarray(skip), s.fin);
    }
  }

  /** Up to four ranges held beyond the gap: the one just added to first (RFC 2018 §4), then the highest. */
  #sackBlocks(): SackBlock[] {
    if (this.#stash.length === 0) return [];
    const ranges: SackBlock[] = [];
    for (const s of this.#stash) {
      const end = seqAdd(s.seq, s.data.length + (s.fin ? 1 : 0));
      const last = ranges.at(-1);
      if (last && seqLte(s.seq, last.end)) {
        if (seqLt(last.end, end)) last.end = end;
      } else {
        ranges.push({ start: s.seq, end });
      }
    }
    const first = ranges.findIndex((r) => seqLte(r.start, this.#lastStashed) && seqLt(this.#lastStashed, r.end));
    const ordered = first >= 0 ? [ranges[first]!, ...ranges.filter((_, i) => i !== first).reverse()] : ranges.reverse();
    return ordered.slice(0, MAX_SACK_BLOCKS);
  }

  // ── Ending ──

  #maybeDone(now: number): void {
    if (this.phase !== "open" || !this.#finAcked || !this.#peerFin) return;
    this.phase = "closed";
    this.#lingerUntil = now + this.#s.lingerMs;
    this.#stopTimers();
  }

  #stopTimers(): void {
    this.#rtoTimer.stop();
    this.#lossTimer.stop();
    this.#probeTimer.stop();
    this.#ackTimer.stop();
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
    } else if (this.phase === "open" && silent >= this.#s.keepaliveMs && now - this.#lastProbe >= this.#s.keepaliveMs && !this.#outstanding()) {
      this.#probe(now);
    }
  }

  #close(error?: PilotError): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#failure = error;
    const wasOpen = this.phase !== "closed";
    this.phase = "closed";
    this.#stopTimers();
    this.#host.release(this, this.#stashBytes + this.#unread);
    this.#stash.length = 0;
    this.#stashBytes = 0;
    this.#unread = 0;
    this.#held = null;
    if (error && wasOpen) this.sink?.fail(error);
    this.sink = null;
    this.#host.closed(this, error);
  }

  /** The TCP state name for this connection, for `pilotctl connections`. */
  get state(): string {
    if (this.phase === "syn_sent") return "SYN_SENT";
    if (this.phase === "syn_received") return "SYN_RECV";
    if (this.phase === "closed") return "TIME_WAIT";
    if (this.#finSeq === -1) return this.#peerFin ? "CLOSE_WAIT" : "ESTABLISHED";
    if (!this.#peerFin) return this.#finAcked ? "FIN_WAIT_2" : "FIN_WAIT_1";
    return "LAST_ACK";
  }

  describe() {
    return {
      state: this.state,
      cwnd: Math.round(this.cwnd),
      ssthresh: Number.isFinite(this.ssthresh) ? Math.round(this.ssthresh) : null,
      in_flight: this.#pipe,
      srtt_ms: Math.round(this.rtt.srtt * 1000) / 1000,
      rto_ms: Math.round(this.rtt.rto),
      peer_window: Math.max(0, seqDiff(this.#peerEdge, this.#sndUna)),
      receive_window: this.#windowUnits() * WINDOW_UNIT,
      unacked: seqDiff(this.#sndNxt, this.#sndUna),
      send_buffered: this.#out.length,
      out_of_order: this.#stashBytes,
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
