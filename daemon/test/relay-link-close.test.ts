/**
 * How the relay connection closes (net/relay-link.ts), against a WebSocket server written here on a
 * plain TCP socket, which records what arrives and may answer a close, or not: the frames batched
 * in the turn of the close still go ahead of it (a stopping daemon's RSTs), even when the message
 * budget made them wait; the close waits for the server's answer, at most CLOSE_WAIT_MS; and a
 * socket that never opened is dropped at once.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { decodeRelayMessage } from "@pilot/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RelayLink } from "../src/net/relay-link.ts";
import { waitFor } from "./wait.ts";

/** What the server saw on one connection: each binary message's frames, and the close's code. */
type Seen = { frames: Buffer[] } | { close: number };

interface TestServer {
  url: string;
  /** Upgrade requests that came, answered or not. */
  requests: number;
  seen: Seen[];
  close(): void;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * `answerClose` false: the server never answers a close (a registry gone quiet). `holdUpgrade`: it
 * never answers the upgrade, so the client stays connecting.
 */
async function wsServer(o: { answerClose?: boolean; holdUpgrade?: boolean } = {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const t: TestServer = { url: "", requests: 0, seen: [], close: () => undefined };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    let buffered = Buffer.alloc(0);
    let open = false;
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!open) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        t.requests++;
        if (o.holdUpgrade) return;
        const key = /sec-websocket-key: *(\S+)/i.exec(buffered.subarray(0, end).toString())![1]!;
        const accept = createHash("sha1").update(key + GUID).digest("base64");
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        buffered = buffered.subarray(end + 4);
        open = true;
      }
      // Client frames are masked; this server reads only what the link sends: binary messages and a close.
      for (;;) {
        if (buffered.length < 2) return;
        const opcode = buffered[0]! & 0x0f;
        let length = buffered[1]! & 0x7f;
        let at = 2;
        if (length === 126) [length, at] = [buffered.readUInt16BE(2), 4];
        else if (length === 127) [length, at] = [Number(buffered.readBigUInt64BE(2)), 10];
        if (buffered.length < at + 4 + length) return;
        const mask = buffered.subarray(at, at + 4);
        const payload = Buffer.from(buffered.subarray(at + 4, at + 4 + length).map((b, i) => b ^ mask[i % 4]!));
        buffered = buffered.subarray(at + 4 + length);
        if (opcode === 0x2) t.seen.push({ frames: decodeRelayMessage(payload)!.map((f) => Buffer.from(f.frame)) });
        if (opcode === 0x8) {
          t.seen.push({ close: payload.readUInt16BE(0) });
          if (o.answerClose !== false) socket.end(Buffer.from([0x88, 2, payload[0]!, payload[1]!]));
        }
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/relay`;
  t.close = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return t;
}

const servers: TestServer[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) s.close();
});

async function openLink(o: Parameters<typeof wsServer>[0] = {}): Promise<{ server: TestServer; link: RelayLink }> {
  const server = await wsServer(o);
  servers.push(server);
  const link = new RelayLink({ url: server.url, token: async () => "token", onFrame: () => undefined }).start();
  if (!o.holdUpgrade) await waitFor(() => link.up, "the relay connection to open");
  return { server, link };
}

const frame = (n: number) => Buffer.concat([Buffer.from("PILS"), Buffer.alloc(60, n)]);

/** Waits for `condition` turn by turn, on no timer: for when setTimeout is faked. */
async function untilTrue(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}

describe("the relay connection's close", () => {
  it("sends the frames of its turn ahead of the close, and resolves once the server has answered it", async () => {
    const { server, link } = await openLink();
    expect(link.send(7, frame(1))).toBe(true);
    await link.close();
    expect(server.seen).toEqual([{ frames: [frame(1)] }, { close: 1000 }]);
    // Closed for good: nothing more goes.
    expect(link.send(7, frame(2))).toBe(false);
    expect(link.up).toBe(false);
  });

  it("sends them even while the message budget holds them back, and a second close waits for the first", async () => {
    const { server, link } = await openLink();
    // Each turn's frame is a message of its own: 60 turns spend the burst of 50, and the next frame waits.
    for (let i = 0; i < 60; i++) {
      link.send(7, frame(i % 250));
      await new Promise((r) => setImmediate(r));
    }
    link.send(9, frame(251));
    const [first, second] = [link.close(), link.close()];
    expect(second).toBe(first);
    await first;
    const messages = server.seen.flatMap((s) => ("frames" in s ? s.frames : []));
    expect(messages).toHaveLength(61);
    expect(messages.at(-1)).toEqual(frame(251));
    expect(server.seen.at(-1)).toEqual({ close: 1000 });
  });

  it("waits at most CLOSE_WAIT_MS (1 s) for a server that never answers", async () => {
    const { server, link } = await openLink({ answerClose: false });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let closed = false;
    const closing = link.close().then(() => (closed = true));
    await untilTrue(() => server.seen.length > 0);
    await vi.advanceTimersByTimeAsync(999);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await closing;
    expect(server.seen).toEqual([{ close: 1000 }]);
  });

  it("drops a socket still connecting at once, with no timer to wait for", async () => {
    const { server, link } = await openLink({ holdUpgrade: true });
    await waitFor(() => server.requests === 1, "the upgrade request");
    // With the timers faked and never advanced, a close that waited on one would never resolve.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    await link.close();
    expect(link.up).toBe(false);
    expect(server.seen).toEqual([]);
  });
});
