/**
 * A stream connection as programs see it: a Node Duplex over a socket of its own to the daemon.
 * Writes become data frames, `end()` a half-close, `destroy()` a reset; the peer's end arrives as
 * the readable side's end, and a failure (reset, revocation, timeout) as an error carrying a
 * PilotError code. Backpressure holds both ways: a program that stops reading stops the peer.
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { PilotError } from "../errors.ts";
import { END_FRAME, frameHeader, KIND, StreamFrameReader } from "./stream-frames.ts";

export interface ConnectionInfo {
  conn_id: number;
  node_id: number;
  address: string;
  port: number;
  local_port: number;
}

export class PilotConnection extends Duplex {
  readonly id: number;
  /** The peer's node ID, backbone address and port. */
  readonly remote: { nodeId: number; address: string; port: number };
  readonly localPort: number;
  readonly #socket: Socket;
  #peerEnded = false;

  constructor(socket: Socket, info: ConnectionInfo, first: Buffer) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.id = info.conn_id;
    this.remote = { nodeId: info.node_id, address: info.address, port: info.port };
    this.localPort = info.local_port;
    const reader = new StreamFrameReader({
      data: (piece) => {
        if (!this.push(piece)) socket.pause();
      },
      end: () => {
        this.#peerEnded = true;
        this.push(null);
      },
      error: (e) => this.destroy(new PilotError(e.code, e.message, e.hint)),
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
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void): void {
    this.#socket.cork();
    this.#socket.write(frameHeader(KIND.data, chunk.length));
    const room = this.#socket.write(chunk);
    this.#socket.uncork();
    if (room) done();
    else this.#socket.once("drain", () => done());
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
