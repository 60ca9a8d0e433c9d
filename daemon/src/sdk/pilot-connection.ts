/**
 * A stream connection as programs see it: a Node Duplex over a socket of its own to the daemon.
 * Writes become data frames, `end()` a half-close, `destroy()` a reset; the peer's end arrives as
 * the readable side's end, and a failure (reset, revocation, timeout) as an error carrying a
 * PilotError code, at once, whether or not the program is reading. Flow control is by credit
 * both ways (local-socket/stream-frames.ts): writes wait for room the daemon grants, and a program
 * that stops reading stops the peer.
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { PilotError } from "../errors.ts";
import type { ConnectionInfo } from "../local-socket/contract.ts";
import { binaryHeader, pilotError } from "../local-socket/frames.ts";
import { CREDIT_STEP, END_FRAME, KIND, StreamFrameReader } from "../local-socket/stream-frames.ts";

export class PilotConnection extends Duplex {
  readonly id: number;
  /** The peer's node ID, backbone address and port. */
  readonly remote: { nodeId: number; address: string; port: number };
  readonly localPort: number;
  readonly #socket: Socket;
  #peerEnded = false;
  /** Pieces received that the readable side has not asked for yet. */
  readonly #queue: Buffer[] = [];
  #wanted = false;
  /** Bytes handed to the readable side, and bytes the daemon has been told the program took. */
  #pushed = 0;
  #reported = 0;
  /** Bytes the daemon will still take, and a write waiting for more. */
  #credit = 0;
  #waiting: { chunk: Buffer; done: (e?: Error | null) => void } | null = null;

  constructor(socket: Socket, info: ConnectionInfo, first: Buffer) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.id = info.conn_id;
    this.remote = { nodeId: info.node_id, address: info.address, port: info.port };
    this.localPort = info.local_port;
    const reader = new StreamFrameReader({
      data: (piece) => {
        this.#queue.push(piece);
        this.#deliver();
      },
      end: () => {
        this.#peerEnded = true;
        this.#deliver();
      },
      error: (e) => this.destroy(pilotError(e)),
      credit: (bytes) => {
        this.#credit += bytes;
        this.#sendWaiting();
      },
    });
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (e) {
        this.destroy(e as Error);
      }
    };
    socket.on("data", onData);
    socket.on("end", () => {
      if (!this.#peerEnded) this.destroy(new PilotError("connection_reset", "the daemon closed the connection", "check pilotctl daemon status, then connect again"));
    });
    socket.on("error", (e) => this.destroy(e));
    if (first.length) onData(first);
    socket.resume();
  }

  /** Hands queued pieces to the readable side while it wants them, then the end if it came. */
  #deliver(): void {
    while (this.#wanted && this.#queue.length) {
      const piece = this.#queue.shift()!;
      this.#pushed += piece.length;
      this.#wanted = this.push(piece);
    }
    if (this.#peerEnded && this.#queue.length === 0 && !this.readableEnded) this.push(null);
    this.#grantCredit();
  }

  /**
   * Tells the daemon what the program has taken (pushed and no longer buffered by the readable
   * side), in batches: that reopens the peer's window.
   */
  #grantCredit(): void {
    const taken = this.#pushed - this.readableLength - this.#reported;
    // A step well under the 4 MiB receive window: what is not yet granted back never holds it shut.
    if (taken < CREDIT_STEP || this.#socket.destroyed) return;
    this.#reported += taken;
    this.#socket.write(binaryHeader(KIND.credit, taken));
  }

  /** Node calls this whenever the program's side has room: each call follows consumption. */
  override _read(): void {
    this.#wanted = true;
    this.#deliver();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void): void {
    this.#waiting = { chunk, done };
    this.#sendWaiting();
  }

  /** Sends as much of the waiting write as the daemon's credit allows; the rest waits for more. */
  #sendWaiting(): void {
    const w = this.#waiting;
    if (!w) return;
    while (w.chunk.length && this.#credit > 0) {
      const n = Math.min(this.#credit, w.chunk.length);
      this.#socket.cork();
      this.#socket.write(binaryHeader(KIND.data, n));
      this.#socket.write(w.chunk.subarray(0, n));
      this.#socket.uncork();
      this.#credit -= n;
      w.chunk = w.chunk.subarray(n);
    }
    if (w.chunk.length) return;
    this.#waiting = null;
    w.done();
  }

  override _final(done: (e?: Error | null) => void): void {
    this.#socket.write(END_FRAME, (e) => done(e));
  }

  override _destroy(error: Error | null, done: (e?: Error | null) => void): void {
    // Both sides finished: a clean close. Anything else aborts, and the daemon resets the peer.
    if (!error && this.#peerEnded && this.writableFinished) this.#socket.end();
    else this.#socket.destroy();
    done(error);
  }
}
