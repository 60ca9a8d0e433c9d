/**
 * One reliable, ordered, flow-controlled byte stream, without I/O: it takes packets, the
 * program's calls and the time, and answers with packets and events. It never reads a clock or
 * sets a timer; `now` comes with every input that needs it, `nextTimeout()` says when it next
 * needs the time, and `onTimeout(now)` gives it (the shell in `connection.ts` does both).
 *
 * Sequence numbers count bytes from a random initial number; SYN and FIN each take one. Every
 * packet after the SYN acknowledges what has arrived in order and advertises the receive window
 * (in KiB). This file holds the phases (handshake, established, closing, lingering, reset) and
 * wires the two sides together: the sender (`sender.ts`: what to send next and when, with its
 * timers) and the receiver (`receiver.ts`: when to acknowledge, and the window offered). Every
 * packet out takes its acknowledgement and window from the receiver, whichever side sends it.
 */
import { PilotError } from "../../errors.ts";
import { FLAG } from "../../wire/packet.ts";
import type { SackBlock } from "../../wire/segment.ts";
import { Receiver, type ReceiverSettings, WINDOW_UNIT } from "./receiver.ts";
import { RttEstimator } from "./rtt.ts";
import { Sender, type SenderSettings } from "./sender.ts";
import { seqAdd } from "./seq.ts";
import { earliest } from "./time.ts";

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
  /** The least retransmission timeout the path to the peer calls for now (rtt.ts). */
  rtoFloorMs(): number;
  /** The connection is gone. */
  closed(error?: PilotError): void;
  /** Takes `n` bytes from the receive budget (the peer's and the daemon's); false if it is spent. */
  reserve(n: number): boolean;
  release(n: number): void;
}

/**
 * How long a connection closed for its program (pilotctl disconnect) may take to finish closing
 * before it is reset: as long as Linux gives an orphaned socket in FIN-WAIT-2 by default.
 */
export const ABANDONED_MS = 60_000;

export interface ConnectionSettings extends SenderSettings, ReceiverSettings {
  lingerMs: number;
}

export type Phase = "syn_sent" | "syn_received" | "open" | "closed";

const EMPTY = Buffer.alloc(0);
/** SYN (or SYN|ACK) transmissions before giving up, 63 s after the first: enough for a lossy path. */
const MAX_SYN_TRIES = 6;

export class ConnectionEngine {
  readonly peer: number;
  readonly remotePort: number;
  readonly rtt: RttEstimator;
  phase: Phase;
  lastHeard: number;
  readonly #host: EngineHost;
  readonly #s: ConnectionSettings;
  readonly #sender: Sender;
  readonly #receiver: Receiver;
  #sink: ConnectionSink | null = null;
  /** In-order data that arrived before the program attached; null once it has (or never will). */
  #waiting: Buffer[] | null = [];
  #finDelivered = false;
  /** The daemon closed the connection for its program (close): nothing more reaches a program. */
  #abandoned = false;
  /** When an abandoned connection that has not finished closing is reset instead. */
  #abandonedUntil = 0;
  #segmentsSent = 0;
  #segmentsReceived = 0;

  readonly #iss: number;
  #synTries = 0;
  #synSentAt = 0;
  /** When the SYN (or SYN|ACK) goes again; 0 once the handshake is over. */
  #synAt = 0;
  #lingerUntil = 0;
  /** Removed from the table; its budget is returned. */
  #gone = false;
  #failure: PilotError | undefined;

  constructor(host: EngineHost, settings: ConnectionSettings, peer: number, remotePort: number, iss: number, phase: "syn_sent" | "syn_received", now: number) {
    this.rtt = new RttEstimator(() => host.rtoFloorMs());
    this.#host = host;
    this.#s = settings;
    this.peer = peer;
    this.remotePort = remotePort;
    this.#iss = iss;
    this.phase = phase;
    this.lastHeard = now;
    this.#sender = new Sender(
      {
        send: (seq, data, fin) => this.#emit(fin ? FLAG.ack | FLAG.fin : FLAG.ack, seq, data),
        writable: () => this.#sink?.writable(),
        stalled: () => host.stalled(),
        unanswered: () => this.#close(new PilotError("timeout", `node ${this.peer} stopped acknowledging data`, "it may be offline or unreachable; connect again later")),
      },
      settings,
      this.rtt,
      iss,
    );
    this.#receiver = new Receiver(
      {
        deliver: (data) => this.#deliver(data),
        finish: () => this.#finish(),
        reserve: (n) => host.reserve(n),
        release: (n) => host.release(n),
        ackSoon: () => host.ackSoon(),
        ackNow: () => this.flushAck(),
      },
      settings,
      this.rtt,
    );
  }

  get stats() {
    const { bytesSent, retransmits, lossEpisodes, timeouts } = this.#sender.stats;
    return { bytesSent, bytesReceived: this.#receiver.bytesReceived, segmentsSent: this.#segmentsSent, segmentsReceived: this.#segmentsReceived, retransmits, lossEpisodes, timeouts };
  }

  // ── Time ──

  /** The earliest deadline the engine has set, or null if it needs no timer. */
  nextTimeout(): number | null {
    return earliest(earliest(this.#receiver.deadline, this.#sender.deadline), this.#synAt) || null;
  }

  /** Runs whatever is due at `now`: each handler clears or moves its deadline first. */
  onTimeout(now: number): void {
    this.#receiver.onTimeout(now);
    this.#sender.onTimeout(now);
    if (this.#synAt && this.#synAt <= now) {
      this.#synAt = 0;
      this.#onSynTimeout(now);
    }
  }

  // ── Opening ──

  /** Active open: sends the SYN. */
  connect(now: number): void {
    this.#sendSyn(now);
  }

  /** Passive open on a SYN: remembers the peer's numbers and answers SYN|ACK. */
  answer(syn: StreamSegment, now: number): void {
    this.#receiver.start(syn.seq);
    this.#sendSyn(now);
  }

  #sendSyn(now: number): void {
    const flags = this.phase === "syn_sent" ? FLAG.syn : FLAG.syn | FLAG.ack;
    this.#synTries++;
    this.#synSentAt = now;
    this.#emit(flags, this.#iss, EMPTY);
    this.#synAt = now + this.rtt.rto;
  }

  #onSynTimeout(now: number): void {
    if (this.#synTries >= MAX_SYN_TRIES) {
      return this.#close(new PilotError("timeout", `node ${this.peer} did not answer a connection to port ${this.remotePort}`, "it may be offline, or may not accept connections from this node"));
    }
    this.rtt.backOff();
    this.#host.stalled();
    this.#sendSyn(now);
  }

  // ── The program's side ──

  /**
   * Queues bytes to send; false once the send buffer is full (wait for `sink.writable`). Only
   * whole segments go at once: the runner calls `flush` at the end of the turn for the rest.
   */
  write(data: Buffer, now: number): boolean {
    if (this.phase === "closed") return false;
    return this.#sender.write(data, now);
  }

  /** Sends what the windows allow, a last partial segment included. */
  flush(now: number): void {
    this.#sender.flush(now);
  }

  /** Bytes written and not yet acknowledged by the peer. */
  get buffered(): number {
    return this.#sender.buffered;
  }

  /** Bytes `write` may still take before the send buffer is full. */
  get room(): number {
    return this.#sender.room;
  }

  /** Half-close: a FIN follows the queued data. */
  end(now: number): void {
    if (this.phase === "closed") return;
    this.#sender.end(now);
  }

  /** Aborts: tells the peer with a RST and forgets the connection (failing the program with `error`, if given). */
  reset(error?: PilotError): void {
    if (this.#gone) return;
    if (this.phase !== "closed") this.#emit(FLAG.rst | FLAG.ack, this.#sender.next, EMPTY);
    this.#close(error);
  }

  /**
   * Closes the connection for its program, as `pilotctl disconnect` does: the program is told with
   * `error` and let go, and the peer gets a FIN after the data already queued, the orderly close a
   * program's own close sends; data the peer sends after that is answered with a RST, as TCP
   * answers data for a socket that was closed. A connection not yet open, or closing already
   * (closed so before, or lingering once both sides have), is dropped at once, with a RST if open.
   */
  close(error: PilotError, now: number): void {
    if (this.#gone) return;
    if (this.phase !== "open" || this.#abandoned) return this.reset(error);
    const sink = this.#sink;
    this.#sink = null;
    this.#waiting = null;
    this.#abandoned = true;
    this.#abandonedUntil = now + ABANDONED_MS;
    sink?.fail(error);
    this.#sender.end(now);
  }

  /** Connects the program; data that arrived before it did is handed over now. */
  attach(sink: ConnectionSink): void {
    if (this.#gone) return sink.fail(this.#failure ?? new PilotError("connection_reset", `the connection to node ${this.peer} closed before it was picked up`, "connect again"));
    this.#sink = sink;
    const waiting = this.#waiting ?? [];
    this.#waiting = null;
    for (const data of waiting) sink.deliver(data);
    if (this.#receiver.finished && !this.#finDelivered) {
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
    if (this.phase === "closed" || this.#abandoned) return;
    if (this.#sender.ended && this.#receiver.finished) return;
    this.reset();
  }

  /** The sink has taken `n` bytes: the window opens again. */
  consumed(n: number): void {
    if (this.#gone) return;
    if (this.#receiver.consumed(n) && this.phase === "open") this.#receiver.ackSoon();
  }

  /** Ends the connection locally, lingering or not, without a word to the peer (its tunnel is gone or forbidden). */
  fail(error: PilotError): void {
    this.#close(error);
  }

  // ── Packets from the peer ──

  receive(p: StreamSegment, now: number): void {
    this.lastHeard = now;
    this.#segmentsReceived++;
    if (p.flags & FLAG.rst) return this.#onReset(p);
    if (this.phase === "closed") {
      // Lingering: the peer may not have our last ACK. It asks again with its FIN, and may ask
      // again later still, so each time the lingering starts afresh (as TCP restarts TIME-WAIT).
      if (p.flags & FLAG.fin) this.#lingerUntil = now + this.#s.lingerMs;
      if (p.data.length || p.flags & FLAG.fin) this.#receiver.ackSoon();
      return;
    }
    if (this.phase === "syn_sent") return this.#onSynAck(p, now);
    if (p.flags & FLAG.syn) {
      // A retransmitted SYN or SYN|ACK: our answer to it was lost.
      if (this.phase === "syn_received" && seqAdd(p.seq, 1) === this.#receiver.next) this.#sendSyn(now);
      else if (this.phase === "open") this.#receiver.ackSoon();
      return;
    }
    if (!(p.flags & FLAG.ack)) return;
    if (this.phase === "syn_received") {
      if (p.ack !== seqAdd(this.#iss, 1)) return;
      this.#established(now, p);
      // Refused on arrival (a full backlog, a listener gone): nothing more is taken from this packet.
      if (this.#gone) return;
    }
    if (!this.#sender.acknowledged(p.ack, p.window * WINDOW_UNIT, p.sack, now)) this.#receiver.ackSoon();
    // Nobody will read it: the peer learns so at once.
    if (this.#abandoned && p.data.length > 0) return this.reset();
    // Told it may write, the program may have reset the connection: then nothing more is taken.
    if (!this.#gone) this.#receiver.receive(p.seq, p.data, (p.flags & FLAG.fin) !== 0, now);
    this.#maybeDone(now);
  }

  #onSynAck(p: StreamSegment, now: number): void {
    if ((p.flags & (FLAG.syn | FLAG.ack)) !== (FLAG.syn | FLAG.ack) || p.ack !== seqAdd(this.#iss, 1)) return;
    this.#receiver.start(p.seq);
    this.#established(now, p);
    this.#receiver.ackSoon();
  }

  #established(now: number, p: StreamSegment): void {
    if (this.#synTries === 1) this.rtt.sample(now - this.#synSentAt);
    this.phase = "open";
    this.#sender.open(p.window * WINDOW_UNIT);
    this.#synAt = 0;
    this.rtt.resetBackoff();
    this.#host.opened();
  }

  #onReset(p: StreamSegment): void {
    const acceptable = this.phase === "syn_sent" ? (p.flags & FLAG.ack) !== 0 && p.ack === seqAdd(this.#iss, 1) : this.#receiver.inWindow(p.seq);
    if (!acceptable || this.phase === "closed") return;
    // Both sides finished and the peer acknowledged all our data; only our FIN's ACK is missing.
    // The peer has closed, lingered and forgotten the connection before one of its ACKs got
    // through (a lossy path): nothing was lost, so this is the normal end (RFC 9293's LAST-ACK).
    if (this.#receiver.finished && this.#sender.finSent && this.#sender.buffered === 0) return this.#close();
    this.#close(
      this.phase === "syn_sent"
        ? new PilotError("connection_refused", `node ${this.peer} refused a connection to port ${this.remotePort}`, "nothing listens on that port: check the port, or start a listener there (pilotctl recv <port> on that node, or a program's listen)")
        : new PilotError("connection_reset", `node ${this.peer} reset the connection`, "the program on the other side closed it or went away; connect again"),
    );
  }

  // ── Packets to the peer ──

  /** Every packet carries the cumulative ACK and the window, so it also settles any ACK owed. */
  #emit(flags: number, seq: number, data: Buffer): void {
    const { next, window, sack } = this.#receiver.acknowledgement(data.length === 0);
    this.#segmentsSent++;
    this.#host.send({ flags, seq, ack: flags & FLAG.ack ? next : 0, window, sack, data });
  }

  /** Sends the ACK asked for, unless a packet since has carried it (the host calls this once per turn). */
  flushAck(): void {
    if (!this.#receiver.owesAck || this.phase === "syn_sent" || this.phase === "syn_received" || this.#gone) return;
    this.#emit(FLAG.ack, this.#sender.next, EMPTY);
  }

  // ── The program's data ──

  /** In-order bytes (already counted against the budget) go to the program. */
  #deliver(data: Buffer): void {
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
    if (this.phase !== "open" || !this.#sender.finAcked || !this.#receiver.finished) return;
    this.phase = "closed";
    this.#lingerUntil = now + this.#s.lingerMs;
    this.#stopTimers();
  }

  #stopTimers(): void {
    this.#sender.stop();
    this.#receiver.cancelDelayedAck();
    this.#synAt = 0;
  }

  /** Called by the host's sweep: keepalives, dead peers, and the end of lingering. */
  tick(now: number): void {
    if (this.phase === "closed") {
      if (now >= this.#lingerUntil) this.#close();
      return;
    }
    // Nobody will read this connection again; a peer that does not take its last data, or never
    // ends its side, must not hold it (and a place under the limits) for good.
    if (this.#abandoned && now >= this.#abandonedUntil) return this.reset();
    const silent = now - this.lastHeard;
    if (silent >= this.#s.deadAfterMs) {
      this.#close(new PilotError("timeout", `node ${this.peer} has been silent for ${Math.round(silent / 1000)} s`, "it may be offline or unreachable; connect again later"));
    } else if (this.phase === "open" && silent >= this.#s.keepaliveMs) {
      this.#sender.keepAlive(now);
    }
  }

  #close(error?: PilotError): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#failure = error;
    const wasOpen = this.phase !== "closed";
    this.phase = "closed";
    this.#stopTimers();
    this.#receiver.clear();
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
    if (!this.#sender.finSent) return this.#receiver.finished ? "CLOSE_WAIT" : "ESTABLISHED";
    if (!this.#receiver.finished) return this.#sender.finAcked ? "FIN_WAIT_2" : "FIN_WAIT_1";
    return "LAST_ACK";
  }

  describe() {
    const sender = this.#sender;
    const receiver = this.#receiver;
    return {
      state: this.state,
      cwnd: Math.round(sender.cwnd),
      ssthresh: Number.isFinite(sender.ssthresh) ? Math.round(sender.ssthresh) : null,
      in_flight: sender.inFlight,
      srtt_ms: Math.round(this.rtt.srtt * 1000) / 1000,
      rto_ms: Math.round(this.rtt.rto),
      peer_window: sender.peerWindow,
      receive_window: receiver.window,
      receive_buffer: receiver.buffer,
      send_buffer: sender.bufferSize,
      unacked: sender.unacked,
      send_buffered: sender.buffered,
      out_of_order: receiver.held,
      unread: receiver.unread,
      bytes_sent: sender.stats.bytesSent,
      bytes_received: receiver.bytesReceived,
      segments_sent: this.#segmentsSent,
      segments_received: this.#segmentsReceived,
      retransmits: sender.stats.retransmits,
      loss_episodes: sender.stats.lossEpisodes,
      timeouts: sender.stats.timeouts,
      spurious_timeouts: sender.stats.spuriousTimeouts,
    };
  }
}
