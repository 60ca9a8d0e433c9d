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
import { BINARY_HEADER_BYTES, binaryHeader, FrameError } from "../local-socket/frames.ts";
import { CREDIT_STEP, END_FRAME, errorFrame, KIND, StreamFrameReader } from "../local-socket/stream-frames.ts";

/** Data for the program waits at most this long behind the previous write while more keeps coming... */
const BATCH_GAP_MS = 1;
/** ...and goes at once when this much is waiting. */
const BATCH_BYTES = 65_536;

export function pipeConnection(conn: Connection, socket: Socket, first: Buffer): void {
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
  // Data goes to the program in batches: the socket is corked at the first piece and uncorked once
  // the turn's I/O is done, or, while data keeps coming, a millisecond after the last write, or at
  // 64 KiB. Each write wakes the program; at 1,500-byte packets a write per packet (or per turn,
  // which on a fast receiver holds one or two packets) took a third of the receiving daemon's time.
  // A lone packet after a quiet spell goes at the end of its turn, so requests and answers wait for
  // nothing.
  let corked = 0;
  let flushedAt = 0;
  const flush = () => {
    if (!corked) return;
    corked = 0;
    flushedAt = performance.now();
    socket.uncork();
  };
  conn.attach({
    deliver: (data) => {
      if (!corked) {
        socket.cork();
        const wait = flushedAt + BATCH_GAP_MS - performance.now();
        if (wait > 0) setTimeout(flush, wait);
        else setImmediate(flush);
      }
      socket.write(binaryHeader(KIND.data, data.length));
      socket.write(data);
      untaken += data.length;
      corked += BINARY_HEADER_BYTES + data.length;
      if (corked >= BATCH_BYTES) flush();
    },
    finish: () => void socket.write(END_FRAME),
    fail: (e) => void socket.end(errorFrame(e)),
    writable: grant,
  });
  socket.on("data", (chunk: Buffer) => {
    try {
      reader.push(chunk);
    } catch (e) {
      conn.reset();
      const message = e instanceof FrameError ? e.message : String(e);
      socket.end(errorFrame(new PilotError("invalid_frame", message, "stream frames are u8 kind, u32 length, bytes; see the SDK in pilot-daemon")));
    }
  });
  socket.on("close", () => conn.detach());
  grant();
  if (first.length) socket.emit("data", first);
  socket.resume();
}
