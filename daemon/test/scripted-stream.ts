/**
 * A connection to a built-in service whose peer is a script: the test sends bytes, acknowledges
 * what the service wrote (or does not, like a peer that never reads), ends or resets, and reads
 * the service's answers. It keeps the promises hosting.ts keeps: `closed` comes once, after a
 * reset or once both sides have ended.
 */
import type { ServiceSession, ServiceStream } from "../src/services/hosting.ts";

export class ScriptedStream implements ServiceStream {
  readonly peer: number;
  readonly session: ServiceSession;
  /** Everything the service wrote, in order. */
  written: Buffer[] = [];
  sent = 0;
  acknowledged = 0;
  /** Bytes the service said it was done with. */
  consumedBytes = 0;
  /** Bytes the script sent. */
  delivered = 0;
  ended = false;
  wasReset = false;
  /** A peer that keeps up: everything written to it is acknowledged at once (and the service told so right after). */
  keepsUp = false;
  /** Called after each write, to look at the service then. */
  onWrite: (() => void) | null = null;
  #peerEnded = false;
  #over = false;

  constructor(peer: number, open: (stream: ServiceStream) => ServiceSession) {
    this.peer = peer;
    this.session = open(this);
  }

  // ── The service's side ──

  write(pieces: Buffer[]): void {
    if (this.#over) return;
    for (const piece of pieces) {
      this.written.push(piece);
      this.sent += piece.length;
    }
    this.onWrite?.();
    if (this.keepsUp) {
      this.acknowledged = this.sent;
      queueMicrotask(() => this.session.drained());
    }
  }

  get backlog(): number {
    return this.sent - this.acknowledged;
  }

  consumed(n: number): void {
    this.consumedBytes += n;
  }

  end(): void {
    this.ended = true;
    if (this.#peerEnded) this.#close();
  }

  reset(): void {
    this.wasReset = true;
    this.#close();
  }

  // ── The script's side ──

  send(...pieces: Buffer[]): void {
    for (const piece of pieces) {
      this.delivered += piece.length;
      this.session.data(piece);
    }
  }

  /** The peer acknowledges all it was sent. */
  ack(): void {
    this.acknowledged = this.sent;
    this.session.drained();
  }

  finish(): void {
    this.#peerEnded = true;
    this.session.finish();
    if (this.ended) this.#close();
  }

  /** The connection fails from outside (the peer reset it, or was cut off). */
  fail(): void {
    this.#close();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.written);
  }

  #close(): void {
    if (this.#over) return;
    this.#over = true;
    this.session.closed();
  }
}
