/**
 * The daemon's end of a stream connection on the local socket, between a real socket pair and a
 * scripted connection: the credit it grants, the frames the program reads, and what it does with
 * frames a program should never send.
 */
import { describe, expect, it } from "vitest";
import type { ConnectionSink } from "../src/dataplane/stream/engine.ts";
import { binaryHeader } from "../src/local-socket/frames.ts";
import { CREDIT_STEP, END_FRAME, errorFrame, KIND } from "../src/local-socket/stream-frames.ts";
import { pipeConnection, type PipedConnection } from "../src/ipc/stream-pipe.ts";
import { PilotError } from "../src/errors.ts";
import { parseFrames, received, socketPair } from "./frame-pair.ts";
import { waitFor } from "./wait.ts";

const SEND_BUFFER = 4 << 20;

/** A connection that records what the pipe does with it; its room is the send buffer less what the peer has not acknowledged. */
class ScriptedConnection implements PipedConnection {
  unacknowledged = 0;
  written: Buffer[] = [];
  ended = false;
  resets = 0;
  detached = false;
  consumedBytes = 0;
  sink: ConnectionSink | undefined;

  get room(): number {
    return SEND_BUFFER - this.unacknowledged;
  }
  get writtenBytes(): number {
    return this.written.reduce((n, b) => n + b.length, 0);
  }
  write(data: Buffer): boolean {
    this.written.push(Buffer.from(data));
    this.unacknowledged += data.length;
    return true;
  }
  end(): void {
    this.ended = true;
  }
  reset(): void {
    this.resets++;
  }
  attach(sink: ConnectionSink): void {
    this.sink = sink;
  }
  detach(): void {
    this.detached = true;
  }
  consumed(n: number): void {
    this.consumedBytes += n;
  }
}

/** A connection piped to a program's socket: `program` is the program's end, `frames` what it has read so far. */
async function piped(first = Buffer.alloc(0)) {
  // A program that goes on writing after the daemon has ended the connection, as a broken one may.
  const [daemonEnd, program] = await socketPair({ allowHalfOpen: true });
  const conn = new ScriptedConnection();
  const read = received(program);
  pipeConnection(conn, daemonEnd, first);
  return { conn, daemonEnd, program, read, frames: () => parseFrames(read.now()).frames, sink: () => conn.sink! };
}

const dataFrame = (bytes: Buffer) => Buffer.concat([binaryHeader(KIND.data, bytes.length), bytes]);

describe("the stream pipe", () => {
  it("grants the send buffer's room at once, and more only once the peer's acknowledgements open a credit step", async () => {
    const { conn, program, frames, sink } = await piped();
    await waitFor(() => frames().length === 1, "the first credit");
    expect(frames()).toEqual([`credit ${SEND_BUFFER}`]);

    const sent = Buffer.alloc(300 * 1024, 7);
    program.write(dataFrame(sent));
    await waitFor(() => conn.writtenBytes === sent.length, "the data to reach the connection");
    expect(Buffer.concat(conn.written)).toEqual(sent);

    // Less than a credit step acknowledged: no credit frame for it.
    conn.unacknowledged -= CREDIT_STEP - 1;
    sink().writable();
    // All of it acknowledged: the program may send it all again.
    conn.unacknowledged = 0;
    sink().writable();
    await waitFor(() => frames().length === 2, "the second credit");
    expect(frames()).toEqual([`credit ${SEND_BUFFER}`, `credit ${sent.length}`]);
  });

  it("hands the program what the peer sent as one data frame per batch, then the end, and counts what the program takes back", async () => {
    const { conn, program, read, sink } = await piped();
    const pieces = [Buffer.alloc(1_400, 1), Buffer.alloc(1_400, 2), Buffer.alloc(600, 3)];
    for (const p of pieces) sink().deliver(p);
    sink().finish();
    await waitFor(() => parseFrames(read.now()).frames.includes("end"), "the end frame");
    const { frames, data } = parseFrames(read.now());
    expect(frames).toEqual([`credit ${SEND_BUFFER}`, "data 3400", "end"]);
    expect(data).toEqual(Buffer.concat(pieces));
    program.write(binaryHeader(KIND.credit, 3_400));
    await waitFor(() => conn.consumedBytes === 3_400, "the program's credit to reach the connection");
    expect(conn.resets).toBe(0);
  });

  it("ends the program's socket with the connection's error, after the data delivered before it", async () => {
    const { read, sink } = await piped();
    sink().deliver(Buffer.alloc(1_000, 4));
    sink().fail(new PilotError("peer_cut_off", "node 9 was cut off", "a new membership restores access"));
    expect((await read.all).frames).toEqual([`credit ${SEND_BUFFER}`, "data 1000", "error peer_cut_off"]);
  });

  it("takes bytes read before the pipe started as the first of the program's frames", async () => {
    const { conn } = await piped(Buffer.concat([dataFrame(Buffer.from("hello")), END_FRAME]));
    await waitFor(() => conn.ended, "the end frame read before the pipe");
    expect(Buffer.concat(conn.written).toString()).toBe("hello");
  });

  it("lets the connection go when the program's socket closes", async () => {
    const { conn, program } = await piped();
    program.destroy();
    await waitFor(() => conn.detached, "the connection to be let go");
    expect(conn.resets).toBe(0);
  });

  const broken: [string, Buffer][] = [
    ["data beyond the credit granted", dataFrame(Buffer.alloc(SEND_BUFFER + 1))],
    ["data after its end frame", Buffer.concat([END_FRAME, dataFrame(Buffer.alloc(10))])],
    ["an error frame, which only the daemon sends", errorFrame({ code: "internal", message: "no", hint: "" })],
    ["credit for bytes it was never sent", binaryHeader(KIND.credit, 1)],
    ["an end frame that carries bytes", Buffer.concat([binaryHeader(KIND.end, 3), Buffer.from("abc")])],
    ["a frame of an unknown kind", binaryHeader(9, 0)],
  ];
  for (const [what, bytes] of broken) {
    it(`resets the connection and ends the socket with invalid_frame for ${what}, taking nothing after it`, async () => {
      const { conn, daemonEnd, program, read } = await piped();
      program.write(bytes);
      const { frames } = await read.all;
      expect(frames).toEqual([`credit ${SEND_BUFFER}`, "error invalid_frame"]);
      expect(conn.resets).toBe(1);
      expect(conn.writtenBytes).toBeLessThanOrEqual(SEND_BUFFER);
      // Well-formed data after the refusal: the stream is out of step, so none of it may count.
      const after = dataFrame(Buffer.from("after"));
      program.write(after);
      await waitFor(() => daemonEnd.bytesRead === bytes.length + after.length, "the daemon to read what came after");
      expect(Buffer.concat(conn.written).includes("after")).toBe(false);
      expect(conn.resets).toBe(1);
    });
  }
});
