/**
 * The daemon's end of a stream connection over the local socket: stream frames from the program
 * become the connection's bytes and its half-close, and what the peer sends goes back as frames.
 * Backpressure runs end to end: a full send buffer pauses reading from the program, and bytes the
 * program has not yet said it read stay counted against the receive window the peer sees.
 */
import type { Socket } from "node:net";
import type { Connection } from "../dataplane/stream/connection.ts";
import { PilotError } from "../errors.ts";
import { FrameError } from "./frames.ts";
import { END_FRAME, errorFrame, frameHeader, KIND, StreamFrameReader } from "./stream-frames.ts";

export function pipeConnection(conn: Connection, socket: Socket, first: Buffer): void {
  if (socket.destroyed) return conn.reset();
  let ended = false;
  /** Bytes sent to the program that it has not yet said it read. */
  let unread = 0;
  const reader = new StreamFrameReader({
    data: (piece) => {
      if (ended) throw new FrameError("data after the end frame");
      if (!conn.write(piece)) socket.pause();
    },
    end: () => {
      ended = true;
      conn.end();
    },
    error: () => {
      throw new FrameError("programs do not send error frames");
    },
    read: (bytes) => {
      if (bytes > unread) throw new FrameError(`read ${bytes} bytes, but only ${unread} were sent`);
      unread -= bytes;
      conn.consumed(bytes);
    },
  });
  conn.attach({
    deliver: (data) => {
      socket.cork();
      socket.write(frameHeader(KIND.data, data.length));
      socket.write(data);
      unread += data.length;
      process.nextTick(() => socket.uncork());
    },
    finish: () => void socket.write(END_FRAME),
    fail: (e) => void socket.end(errorFrame(e)),
    writable: () => void socket.resume(),
  });
  const onData = (chunk: Buffer) => {
    try {
      reader.push(chunk);
    } catch (e) {
      conn.reset();
      const message = e instanceof FrameError ? e.message : String(e);
      socket.end(errorFrame(new PilotError("invalid_frame", message, "stream frames are u8 kind, u32 length, bytes; see the SDK in pilot-daemon")));
    }
  };
  socket.on("data", onData);
  socket.on("close", () => conn.detach());
  if (first.length) onData(first);
  socket.resume();
}
