/**
 * A bare WebSocket server for client tests that need a peer misbehaving in ways the registry never
 * does: it greets like a network channel and then ignores everything (no pongs), or refuses.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function textFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("stub frames are short");
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

export interface WsStub {
  url: string;
  connections: number;
  close(): Promise<void>;
}

export async function startWsStub(mode: "silent" | "refuse", hello: object = {}): Promise<WsStub> {
  const sockets = new Set<Duplex>();
  const stub = { connections: 0 } as WsStub;
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket) => {
    stub.connections++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    if (mode === "refuse") {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}${GUID}`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.write(textFrame(JSON.stringify({ type: "hello", network_id: 1, node_id: 1, revision: 0, policy: { revision: 0, self_tagging: false, rules: [], tags: {} }, ...hello })));
    // …and from here on, silence: pings go unanswered, as on a half-open connection.
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  stub.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  stub.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return stub;
}
