/**
 * The daemon's end of a stream connection over the local socket: stream frames from the program
 * become the connection's bytes and its half-close, and what the peer sends goes back as frames.
 * The daemon always reads the program's socket: the program sends only what it has been granted
 * (room in the send buffer), and bytes sent to it stay counted against the receive window the peer
 * sees until it grants them back (local-socket/stream-frames.ts).
 */
import type { Socket } from "node:net";
import type { Connection } from "../dataplane/stream/connection.ts";
import { PilotError } from "../errors.ts";
import { binaryHeader, FrameError } from "../local-socket/frames.ts";
import { BatchedWriter } from "../local-socket/batched-writes.ts";
import { CREDIT_STEP, END_FRAME, errorFrame, KIND, StreamFrameReader } from "../local-socket/stream-frames.ts";

/** What the pipe asks of a connection: its send buffer's room, the bytes both ways, and its end. */
export type PipedConnection = Pick<Connection, "room" | "write" | "end" | "reset" | "attach" | "detach" | "consumed">;

/** Pipes `conn` to the program on `socket`; `first` holds bytes read from the socket before the pipe took it. */
export function pipeConnection(conn: PipedConnection, socket: Socket, first: Buffer): void {
  if (socket.destroyed) return conn.reset();
  let ended = false;
  /** Bytes sent to the program that it has not yet granted back. */
  let untaken = 0;
  /** Bytes the program may send, and has sent, in all. */
  let granted = 0;
  let received = 0;
  const grant = () => {
    const more = conn.room - (granted - received);
    if (more < CREDIT_STEP && granted > 0) return;
    granted += more;
    socket.write(binaryHeader(KIND.credit, more));
  };
  const reader = new StreamFrameReader({
    data: (piece) => {
      received += piece.length;
      if (ended) throw new FrameError("data after the end frame");
      if (received > granted) throw new FrameError(`${received} bytes sent, but only ${granted} were granted`);
      conn.write(piece);
    },
    end: () => {
      ended = true;
      conn.end();
    },
    error: () => {
      throw new FrameError("programs do not send error frames");
    },
    credit: (bytes) => {
      if (bytes > untaken) throw new FrameError(`${bytes} bytes taken, but only ${untaken} were sent`);
      untaken -= bytes;
      conn.consumed(bytes);
    },
  });
  const out = new BatchedWriter(socket, (bytes) => binaryHeader(KIND.data, bytes));
  conn.attach({
    deliver: (data) => {
      out.data(data);
      untaken += data.length;
    },
    finish: () => out.write(END_FRAME),
    fail: (e) => out.end(errorFrame(e)),
    writable: grant,
  });
  /** A frame was refused: the program's bytes are out of step from there, so none after it count. */
  let broken = false;
  socket.on("data", (chunk: Buffer) => {
    if (broken) return;
    try {
      reader.push(chunk);
    } catch (e) {
      broken = true;
      conn.reset();
      const message = e instanceof FrameError ? e.message : String(e);
      out.end(errorFrame(new PilotError("invalid_frame", message, "stream frames are u8 kind, u32 length, bytes; see the SDK in pilot-daemon")));
    }
  });
  socket.on("close", () => conn.detach());
  grant();
  if (first.length) socket.emit("data", first);
  socket.resume();
}
