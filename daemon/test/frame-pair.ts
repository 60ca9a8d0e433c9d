/** A real socket pair for the local socket's binary frames, and a reading of what one end received, frame by frame. */
import { once } from "node:events";
import { createServer, type Socket, connect } from "node:net";
import { afterEach, expect } from "vitest";
import { decodeError } from "../src/local-socket/frames.ts";
import { KIND } from "../src/local-socket/stream-frames.ts";

const opened: Socket[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.destroy();
});

/**
 * A connected pair of TCP sockets on loopback, destroyed after the test: the daemon's end and the
 * program's. With `allowHalfOpen`, the program's end may go on writing after the daemon's has ended.
 */
export async function socketPair(o: { allowHalfOpen?: boolean } = {}): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: o.allowHalfOpen ?? false });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const port = (server.address() as { port: number }).port;
  const ours = connect(port, "127.0.0.1");
  const [theirs] = await accepted;
  server.close();
  opened.push(ours, theirs);
  return [ours, theirs];
}

/** Stream frames (u8 kind, u32 length; credit frames carry no bytes): data frames by their length, errors by their code, the rest by kind; and the data. */
export function parseFrames(bytes: Buffer): { frames: string[]; data: Buffer } {
  const frames: string[] = [];
  const data: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const [kind, length] = [bytes[at]!, bytes.readUInt32BE(at + 1)];
    at += 5;
    if (kind === KIND.credit) frames.push(`credit ${length}`);
    else if (kind === KIND.end) frames.push("end");
    else if (kind === KIND.error) {
      frames.push(`error ${decodeError(bytes.subarray(at, at + length)).code}`);
      at += length;
    } else {
      expect(kind).toBe(KIND.data);
      frames.push(`data ${length}`);
      data.push(bytes.subarray(at, at + length));
      at += length;
    }
  }
  return { frames, data: Buffer.concat(data) };
}

/** What an end has received so far, and once the other end ends the socket, all of it. */
export function received(socket: Socket): { now: () => Buffer; all: Promise<{ frames: string[]; data: Buffer }> } {
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  return { now: () => Buffer.concat(chunks), all: once(socket, "end").then(() => parseFrames(Buffer.concat(chunks))) };
}
