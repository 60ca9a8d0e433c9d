/**
 * One stream connection as the daemon runs it: the engine (`engine.ts`, which does no I/O) with
 * the real clock and timers. Every call passes the engine the time, then sets one timer for the
 * engine's next deadline; segments written in a turn of the event loop that do not fill a whole
 * segment go at the end of the turn.
 */
import type { PilotError } from "../../errors.ts";
import { Deadline } from "./deadline.ts";
import { ConnectionEngine, type ConnectionSettings, type ConnectionSink, type Phase, type StreamSegment } from "./engine.ts";

/** What a connection needs from the table that holds it. */
export interface ConnectionHost {
  send(conn: Connection, segment: StreamSegment): void;
  /** Sends an acknowledgement (`flushAck`) at the end of this turn of the event loop, with any others due. */
  ackSoon(conn: Connection): void;
  /** The handshake completed. */
  opened(conn: Connection): void;
  /** A retransmission timed out: the peer may have restarted and lost our tunnel's keys. */
  stalled(conn: Connection): void;
  /** The least retransmission timeout the path to the peer calls for now (rtt.ts). */
  rtoFloorMs(conn: Connection): number;
  /** The connection is gone: remove it. */
  closed(conn: Connection, error?: PilotError): void;
  /** Takes `n` bytes from the receive budget (the peer's and the daemon's); false if it is spent. */
  reserve(conn: Connection, n: number): boolean;
  release(conn: Connection, n: number): void;
}

export class Connection {
  readonly id: number;
  readonly peer: number;
  readonly localPort: number;
  readonly remotePort: number;
  /** The peer opened it (this node accepted its SYN), so its local port is the one a port policy guards. */
  readonly accepted: boolean;
  readonly #engine: ConnectionEngine;
  readonly #timer = new Deadline(() => this.#run((now) => this.#engine.onTimeout(now)));
  #flushScheduled = false;

  constructor(host: ConnectionHost, settings: ConnectionSettings, id: number, peer: number, localPort: number, remotePort: number, iss: number, phase: "syn_sent" | "syn_received") {
    this.id = id;
    this.peer = peer;
    this.localPort = localPort;
    this.remotePort = remotePort;
    this.accepted = phase === "syn_received";
    const engineHost = {
      send: (segment: StreamSegment) => host.send(this, segment),
      ackSoon: () => host.ackSoon(this),
      opened: () => host.opened(this),
      stalled: () => host.stalled(this),
      rtoFloorMs: () => host.rtoFloorMs(this),
      closed: (error?: PilotError) => host.closed(this, error),
      reserve: (n: number) => host.reserve(this, n),
      release: (n: number) => host.release(this, n),
    };
    this.#engine = new ConnectionEngine(engineHost, settings, peer, remotePort, iss, phase, performance.now());
  }

  get phase(): Phase {
    return this.#engine.phase;
  }

  /** The TCP state name for this connection, for `pilotctl connections`. */
  get state(): string {
    return this.#engine.state;
  }

  /** Bytes written and not yet acknowledged by the peer. */
  get buffered(): number {
    return this.#engine.buffered;
  }

  /** Bytes `write` may still take before the send buffer is full. */
  get room(): number {
    return this.#engine.room;
  }

  describe() {
    return this.#engine.describe();
  }

  /** Active open: sends the SYN. */
  connect(): void {
    this.#run((now) => this.#engine.connect(now));
  }

  /** Passive open on a SYN: answers SYN|ACK. */
  answer(syn: StreamSegment): void {
    this.#run((now) => this.#engine.answer(syn, now));
  }

  /** Queues bytes to send; false once the send buffer is full (wait for `sink.writable`). */
  write(data: Buffer): boolean {
    const room = this.#run((now) => this.#engine.write(data, now));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#run((now) => this.#engine.flush(now));
      });
    }
    return room;
  }

  /** Half-close: a FIN follows the queued data. */
  end(): void {
    this.#run((now) => this.#engine.end(now));
  }

  /** Aborts: tells the peer with a RST and forgets the connection (failing the program with `error`, if given). */
  reset(error?: PilotError): void {
    this.#run(() => this.#engine.reset(error));
  }

  /** Closes it for its program: the program is told with `error`, the peer gets a FIN (ConnectionEngine.close). */
  close(error: PilotError): void {
    this.#run((now) => this.#engine.close(error, now));
  }

  /** Connects the program; data that arrived before it did is handed over now. */
  attach(sink: ConnectionSink): void {
    this.#run(() => this.#engine.attach(sink));
  }

  /** The program went away: a RST unless both sides had finished. */
  detach(): void {
    this.#run(() => this.#engine.detach());
  }

  /** The sink has taken `n` bytes: the window opens again. */
  consumed(n: number): void {
    this.#run(() => this.#engine.consumed(n));
  }

  /** Ends the connection locally without a word to the peer (its tunnel is gone or forbidden). */
  fail(error: PilotError): void {
    this.#run(() => this.#engine.fail(error));
  }

  receive(segment: StreamSegment): void {
    this.#run((now) => this.#engine.receive(segment, now));
  }

  /** Sends the ACK asked for, unless a packet since has carried it (the host calls this once per turn). */
  flushAck(): void {
    this.#run(() => this.#engine.flushAck());
  }

  /** Called by the host's sweep: keepalives, dead peers, and the end of lingering. */
  tick(now: number): void {
    this.#run(() => this.#engine.tick(now));
  }

  /** Gives the engine the time, then sets the timer for whatever it now waits for. */
  #run<T>(step: (now: number) => T): T {
    const result = step(performance.now());
    const at = this.#engine.nextTimeout();
    if (at !== null) this.#timer.set(at);
    else if (this.#engine.phase === "closed") this.#timer.stop();
    else this.#timer.clear();
    return result;
  }
}
