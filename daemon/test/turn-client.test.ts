/**
 * The TURN client against a real TURN server: coturn on loopback, with shared-secret credentials.
 * The client shares its UDP socket with nothing here, but is driven as the daemon drives it: a
 * send function, and the datagrams from the server's address handed to receive().
 */
import { createSocket, type Socket } from "node:dgram";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TurnClient, type Peer } from "../src/net/turn/client.ts";
import { looksLikeChannelData } from "../src/net/turn/messages.ts";
import { coturnUnavailable, startCoturn, type Coturn } from "./turn/coturn.ts";
import { SLOW_TEST_MS, waitFor } from "./wait.ts";

// CI installs coturn (.ci/run); a machine without it skips these, saying why.
const unavailable = await coturnUnavailable();
if (unavailable) console.warn(`TURN client tests skipped: ${unavailable}`);

interface Heard {
  from: Peer;
  data: string;
}

/** A UDP socket on loopback that records what it receives. */
async function udp(): Promise<{ socket: Socket; port: number; heard: Heard[]; raw: Buffer[] }> {
  const socket = createSocket("udp4");
  const heard: Heard[] = [];
  const raw: Buffer[] = [];
  socket.on("message", (msg, from) => {
    raw.push(msg);
    heard.push({ from: { address: from.address, port: from.port }, data: msg.toString() });
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { socket, port: socket.address().port, heard, raw };
}

describe.skipIf(unavailable !== undefined)("the TURN client against coturn", () => {
  let coturn: Coturn;
  const sockets: Socket[] = [];
  const clients: TurnClient[] = [];

  beforeAll(async () => {
    coturn = await startCoturn({ allowLoopbackPeers: true });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(async () => coturn?.close());

  /** A client on its own socket; datagrams from the server go to receive(), and are recorded raw. */
  async function client() {
    const own = await udp();
    sockets.push(own.socket);
    const turn = new TurnClient({ send: (bytes, host, port) => own.socket.send(bytes, port, host) });
    clients.push(turn);
    const fromServer: Buffer[] = [];
    const heard: Heard[] = [];
    own.socket.on("message", (msg, from) => {
      if (from.address !== coturn.server.host || from.port !== coturn.server.port) return;
      fromServer.push(msg);
      turn.receive(msg);
    });
    turn.onData((from, bytes) => heard.push({ from, data: bytes.toString() }));
    return { turn, own, fromServer, heard };
  }

  async function peer() {
    const p = await udp();
    sockets.push(p.socket);
    return { ...p, at: { address: "127.0.0.1", port: p.port } };
  }

  it("allocates, relays both ways by Send and Data indications and by ChannelData, refreshes, and deletes the allocation on close", async () => {
    const { turn, own, fromServer, heard } = await client();
    const { username, credential } = coturn.credentials();
    const allocation = await turn.allocate(coturn.server, username, credential);
    expect(allocation.relayed.address).toBe("127.0.0.1");
    expect(allocation.mapped).toEqual({ address: "127.0.0.1", port: own.port, family: 4 });
    expect(allocation.lifetime).toBeGreaterThan(0);
    const relayed = allocation.relayed;
    const p = await peer();

    await turn.permit("127.0.0.1");
    p.socket.send("via a Data indication", relayed.port, relayed.address);
    await waitFor(() => heard.length > 0, "the peer's datagram through the relay");
    expect(heard).toEqual([{ from: p.at, data: "via a Data indication" }]);
    expect(looksLikeChannelData(fromServer.at(-1)!)).toBe(false);

    expect(turn.send(p.at, Buffer.from("via a Send indication"))).toBe(true);
    await waitFor(() => p.heard.length > 0, "our datagram at the peer");
    expect(p.heard).toEqual([{ from: { address: relayed.address, port: relayed.port }, data: "via a Send indication" }]);

    const channel = await turn.bind(p.at);
    expect(channel).toBeGreaterThanOrEqual(0x4000);
    expect(turn.send(p.at, Buffer.from("as ChannelData"))).toBe(true);
    await waitFor(() => p.heard.length > 1, "ChannelData at the peer");
    expect(p.heard[1]).toEqual({ from: { address: relayed.address, port: relayed.port }, data: "as ChannelData" });
    p.socket.send("back on the channel", relayed.port, relayed.address);
    await waitFor(() => heard.length > 1, "the peer's answer on the channel");
    expect(heard[1]).toEqual({ from: p.at, data: "back on the channel" });
    expect(fromServer.at(-1)!.readUInt16BE(0)).toBe(channel);

    expect(await turn.refresh()).toBeGreaterThan(0);
    await turn.close();
    // The allocation is gone, and with it the relayed port: a datagram to it draws ICMP's port
    // unreachable, which a connected socket reports as ECONNREFUSED.
    const prober = createSocket("udp4");
    sockets.push(prober);
    let refused = false;
    prober.on("error", (e: NodeJS.ErrnoException) => (refused ||= e.code === "ECONNREFUSED"));
    await new Promise<void>((resolve) => prober.connect(relayed.port, relayed.address, resolve));
    await waitFor(() => {
      prober.send("anyone there?");
      return refused;
    }, "the relayed port to be closed", undefined, 50);
  }, SLOW_TEST_MS);

  it("sends two peers' data to the right one, with a channel for one and indications for the other", async () => {
    const { turn, heard } = await client();
    const { username, credential } = coturn.credentials();
    const { relayed } = await turn.allocate(coturn.server, username, credential);
    const [a, b] = [await peer(), await peer()];
    await turn.permit("127.0.0.1");
    await turn.bind(a.at);
    turn.send(a.at, Buffer.from("to a"));
    turn.send(b.at, Buffer.from("to b"));
    await waitFor(() => a.heard.length > 0 && b.heard.length > 0, "both peers to hear us");
    expect([a.heard.map((h) => h.data), b.heard.map((h) => h.data)]).toEqual([["to a"], ["to b"]]);
    a.socket.send("from a", relayed.port, relayed.address);
    b.socket.send("from b", relayed.port, relayed.address);
    await waitFor(() => heard.length === 2, "both peers through the relay");
    expect(new Set(heard.map((h) => `${h.from.port} ${h.data}`))).toEqual(new Set([`${a.port} from a`, `${b.port} from b`]));
  }, SLOW_TEST_MS);

  it("is refused with turn_unauthorized for a wrong credential and for an expired one", async () => {
    const wrong = await client();
    const { username } = coturn.credentials();
    await expect(wrong.turn.allocate(coturn.server, username, "not the credential")).rejects.toMatchObject({ code: "turn_unauthorized", status: 401 });
    const expired = await client();
    const old = coturn.credentials(-60);
    await expect(expired.turn.allocate(coturn.server, old.username, old.credential)).rejects.toMatchObject({ code: "turn_unauthorized", status: 401 });
  }, SLOW_TEST_MS);
});
