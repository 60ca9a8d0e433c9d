/**
 * Stream connections between in-process daemons: Tunnels and Streams wired as the daemon wires
 * them, on real UDP sockets over loopback, with a directory standing in for the registry.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Connection, ConnectionSettings, ConnectionSink } from "../src/dataplane/stream/connection.ts";
import { seqAdd } from "../src/dataplane/stream/seq.ts";
import { echo, Streams, type Offer, type StreamLimits } from "../src/dataplane/streams.ts";
import { Tunnels, type PeerInfo } from "../src/dataplane/tunnels.ts";
import { PilotError } from "../src/errors.ts";
import { Identity } from "../src/identity.ts";
import { FLAG, PROTOCOL, type Packet, type PacketFields } from "../src/wire/packet.ts";
import { sackHeader, type SackBlock } from "../src/wire/segment.ts";

// ── Harness ──

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EMPTY = Buffer.alloc(0);
const MiB = 1 << 20;
const KiB = 1 << 10;

/** A directory standing in for the registry: who has which key, and where. */
const directory = new Map<number, PeerInfo>();
let nextId = 20_000;

interface TestNode {
  id: number;
  tunnels: Tunnels;
  /** Absent (null) on a raw node: Tunnels only, whose stream packets nobody answers. */
  streams: Streams;
  /** Whom the tunnel layer (and, unless told otherwise, the stream layer) allows. */
  allowed: Set<number>;
  /** Whom the stream layer allows, when it is told to keep its own set. */
  streamAllowed: Set<number>;
  /** Stream packets a raw node received. */
  packets: { peer: number; packet: Packet }[];
  /** A dead node sends nothing more (its process is gone). */
  dead: boolean;
  /** The share of sealed frames its tunnels throw away; may be changed at any time. */
  dropRate: number;
}

interface NodeOptions {
  dropRate?: number;
  limits?: Partial<StreamLimits>;
  settings?: Partial<Omit<ConnectionSettings, "mss">>;
  /** Overrides the path MSS the tunnels report. */
  mss?: number;
  /** The stream layer checks `streamAllowed` instead of the tunnel layer's `allowed`. */
  ownStreamAllowed?: boolean;
  /** Tunnels only: stream packets are recorded (or, with "silent", ignored) and never answered. */
  raw?: "record" | "silent";
}

const live: TestNode[] = [];

afterEach(async () => {
  const nodes = live.splice(0);
  for (const n of nodes) n.streams?.close();
  // Let RSTs for connections whose tunnel is being opened reach a pending exchange before the sockets close.
  await sleep(30);
  for (const n of nodes) n.tunnels.close();
});

async function makeNode(options: NodeOptions = {}): Promise<TestNode> {
  const id = nextId++;
  const identity = Identity.generate();
  const allowed = new Set<number>();
  const streamAllowed = new Set<number>();
  const packets: TestNode["packets"] = [];
  const node = { id, allowed, streamAllowed, packets, dead: false, dropRate: options.dropRate ?? 0 } as TestNode;
  let streams!: Streams;
  const tunnels = new Tunnels({
    identity,
    me: () => id,
    allowed: (p) => allowed.has(p),
    lookup: async (p) => directory.get(p) ?? null,
    onDatagram: () => {},
    onStream: options.raw === "silent" ? undefined : options.raw === "record" ? (peer, packet) => void packets.push({ peer, packet }) : (p, pk) => streams.receive(p, pk),
    // Read on every frame, so a test can make the path lossy once a connection is up.
    get dropRate() {
      return node.dropRate;
    },
  });
  if (!options.raw) {
    streams = new Streams({
      allowed: options.ownStreamAllowed ? (p) => streamAllowed.has(p) : (p) => allowed.has(p),
      open: (p) => tunnels.open(p),
      send: (p, f) => (node.dead ? undefined : tunnels.send(p, f)),
      mss: options.mss ? () => options.mss! : (p) => tunnels.mss(p),
      limits: options.limits,
      settings: options.settings,
    });
  }
  const { port } = await tunnels.bind("127.0.0.1", 0);
  directory.set(id, { nodeId: id, publicKey: Buffer.from(identity.publicKey, "base64"), endpoints: [{ address: "127.0.0.1", port }] });
  node.tunnels = tunnels;
  node.streams = streams ?? null;
  live.push(node);
  return node;
}

/** Both allow each other, at the tunnel and the stream layer. */
function befriend(a: TestNode, b: TestNode): void {
  a.allowed.add(b.id);
  b.allowed.add(a.id);
  a.streamAllowed.add(b.id);
  b.streamAllowed.add(a.id);
}

async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const until = performance.now() + ms;
  while (!check()) {
    if (performance.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** One side of a connection as a program sees it: a sink that hashes what arrives. */
interface End {
  conn: Connection;
  /** Bytes delivered to the sink. */
  bytes: number;
  /** SHA-256 of everything delivered, once the peer finished. */
  sha: string | null;
  finished: boolean;
  /** Resolves when the peer finishes; rejects when the connection fails. */
  done: Promise<void>;
  error: PilotError | null;
  /** Times write() returned false. */
  blocked: number;
  /** Manual consumption: bytes delivered but not yet consumed. */
  unconsumed: number;
  /** Largest unconsumed + out-of-order the receiver held at any delivery. */
  maxHeld: number;
  consume(n: number): void;
  drained(): Promise<void>;
}

function attach(conn: Connection, options: { manual?: boolean; keep?: boolean } = {}): End & { data: Buffer[] } {
  const hash = createHash("sha256");
  let finish!: () => void;
  let failed!: (e: PilotError) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    failed = reject;
  });
  done.catch(() => undefined);
  const waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const end: End & { data: Buffer[] } = {
    conn,
    bytes: 0,
    sha: null,
    finished: false,
    done,
    error: null,
    blocked: 0,
    unconsumed: 0,
    maxHeld: 0,
    data: [],
    consume(n) {
      n = Math.min(n, end.unconsumed);
      if (n <= 0) return;
      end.unconsumed -= n;
      conn.consumed(n);
    },
    drained: () => new Promise<void>((resolve, reject) => (end.error ? reject(end.error) : waiters.push({ resolve, reject }))),
  };
  const sink: ConnectionSink = {
    deliver(data) {
      hash.update(data);
      end.bytes += data.length;
      if (options.keep) end.data.push(Buffer.from(data));
      if (options.manual) {
        end.unconsumed += data.length;
        end.maxHeld = Math.max(end.maxHeld, end.unconsumed + conn.describe().out_of_order);
      } else {
        conn.consumed(data.length);
      }
    },
    finish() {
      end.finished = true;
      end.sha = hash.digest("hex");
      finish();
    },
    fail(e) {
      end.error = e;
      failed(e);
      for (const w of waiters.splice(0)) w.reject(e);
    },
    writable() {
      for (const w of waiters.splice(0)) w.resolve();
    },
  };
  conn.attach(sink);
  return end;
}

/** Writes everything, in chunks of the given sizes (cycled), waiting whenever write() says the buffer is full. */
async function writeAll(end: End, data: Buffer, sizes: number | readonly number[] = 64 * KiB, finish = true): Promise<void> {
  const list = typeof sizes === "number" ? [sizes] : sizes;
  let off = 0;
  let i = 0;
  while (off < data.length) {
    if (end.error) throw end.error;
    if (end.conn.phase === "closed") throw new Error("connection closed while writing");
    const n = Math.min(list[i++ % list.length]!, data.length - off);
    const room = end.conn.write(data.subarray(off, off + n));
    off += n;
    if (!room) {
      end.blocked++;
      await end.drained();
    }
  }
  if (finish) end.conn.end();
}

/** A listener on `port` of `server` that claims every connection and attaches an End to it. */
function accept(server: TestNode, port: number, options: { manual?: boolean; keep?: boolean } = {}) {
  const ends: (End & { data: Buffer[] })[] = [];
  const unlisten = server.streams.listen(port, (offer) => ends.push(attach(server.streams.claim(offer.conn.id, offer.key), options)));
  return { ends, unlisten, next: async (n = 1) => (await waitFor(`connection ${n} on port ${port}`, () => ends.length >= n), ends[n - 1]!) };
}

async function connect(client: TestNode, server: TestNode, port: number, options: { manual?: boolean; keep?: boolean; serverManual?: boolean } = {}) {
  const listener = accept(server, port, { manual: options.serverManual, keep: options.keep });
  const c = attach(await client.streams.dial(server.id, port), options);
  const s = await listener.next();
  return { c, s, listener };
}

const FIELDS = { protocol: PROTOCOL.stream, ack: 0, window: 64 } as const;

/** Sends a hand-made stream packet from a raw node through its tunnel. */
async function rawSend(from: TestNode, to: TestNode, fields: Partial<Omit<PacketFields, "src" | "dst" | "payload">> & { srcPort: number; dstPort: number; seq: number; flags: number; payload?: readonly Buffer[] | Buffer; sack?: SackBlock[]; data?: Buffer }): Promise<void> {
  const payload = fields.payload ?? [sackHeader(fields.sack ?? []), fields.data ?? EMPTY];
  await from.tunnels.send(to.id, { ...FIELDS, ...fields, payload });
}

/** Opens a connection by hand from a raw (recording) node to a listening port. */
async function rawHandshake(raw: TestNode, target: TestNode, port: number, iss: number, srcPort: number, window = 64) {
  await rawSend(raw, target, { flags: FLAG.syn, srcPort, dstPort: port, seq: iss, window });
  await waitFor("SYN|ACK", () => raw.packets.some((p) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack)));
  const synAck = raw.packets.find((p) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack))!.packet;
  expect(synAck.ack).toBe(seqAdd(iss, 1));
  const mine = seqAdd(iss, 1);
  const theirs = seqAdd(synAck.seq, 1);
  await rawSend(raw, target, { flags: FLAG.ack, srcPort, dstPort: port, seq: mine, ack: theirs, window });
  return { mine, theirs, window: synAck.window };
}

/** A stream packet as a tunnel hands it to Streams.receive. */
function packetFrom(from: TestNode, to: TestNode, p: { flags: number; srcPort: number; dstPort: number; seq: number; ack: number; window: number; sack?: SackBlock[]; data?: Buffer }): Packet {
  return {
    flags: p.flags,
    protocol: PROTOCOL.stream,
    src: { network: 0, node: from.id },
    dst: { network: 0, node: to.id },
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    window: p.window,
    payload: Buffer.concat([sackHeader(p.sack ?? []), p.data ?? EMPTY]),
  };
}

async function pair(options: NodeOptions = {}): Promise<[TestNode, TestNode]> {
  const a = await makeNode(options);
  const b = await makeNode(options);
  befriend(a, b);
  return [a, b];
}

// ── Review findings ──

/** SYN, wait for the SYN|ACK, then the handshake's ACK, optionally carrying data. */
async function rawOpen(raw: TestNode, target: TestNode, port: number, iss: number, srcPort: number, data?: Buffer) {
  await rawSend(raw, target, { flags: FLAG.syn, srcPort, dstPort: port, seq: iss });
  const isSynAck = (p: { packet: Packet }) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack);
  await waitFor("SYN|ACK", () => raw.packets.some(isSynAck));
  const synAck = raw.packets.find(isSynAck)!.packet;
  const mine = seqAdd(iss, 1);
  const theirs = seqAdd(synAck.seq, 1);
  await rawSend(raw, target, { flags: FLAG.ack, srcPort, dstPort: port, seq: mine, ack: theirs, data });
  return { mine, theirs };
}

describe("review: receive budget", () => {
  it("a handshake ACK carrying data, on a connection reset in opened() (backlog full), does not leak the daemon-wide receive budget", async () => {
    const t = await makeNode({ limits: { backlog: 1, receiveBudget: 256 * KiB } });
    const raw = await makeNode({ raw: "record" });
    const good = await makeNode();
    befriend(t, raw);
    befriend(t, good);
    const unlisten = t.streams.listen(80, () => undefined); // never claims: the first offer fills the backlog
    await raw.tunnels.open(t.id);
    await rawOpen(raw, t, 80, 1000, 32_000);
    await waitFor("the first offer", () => t.streams.list().some((c) => c.state === "ESTABLISHED"));
    // Four more, each completing the handshake with 60 KiB in its ACK: each is reset at once (backlog full).
    for (let i = 1; i <= 4; i++) await rawOpen(raw, t, 80, 1000 * (i + 1), 32_000 + i, randomBytes(60 * KiB));
    await waitFor("the four resets", () => raw.packets.filter((p) => p.packet.flags & FLAG.rst).length >= 4);
    unlisten(); // resets the waiting offer too: nothing of the raw peer's is left
    await waitFor("the table to empty", () => t.streams.size === 0);
    // Every byte the daemon holds for programs has been released, so another peer transfers normally.
    const { c, s } = await connect(good, t, 81);
    const data = randomBytes(512 * KiB);
    await writeAll(c, data);
    await within("the other peer's transfer", s.done, 5000);
    expect(s.sha).toBe(sha(data));
  }, 15_000);

  it("one peer filling its connections' out-of-order buffers (to the built-in echo) does not starve another peer", async () => {
    const receiveBuffer = 64 * KiB;
    // 256 KiB daemon-wide: four connections' worth (with the defaults, 64 connections of 4 MiB).
    const t = await makeNode({ settings: { receiveBuffer }, limits: { receiveBudget: 4 * receiveBuffer } });
    const raw = await makeNode({ raw: "record" });
    const good = await makeNode();
    befriend(t, raw);
    befriend(t, good);
    t.streams.listen(7, (o) => echo(t.streams.claim(o.conn.id, o.key)));
    await raw.tunnels.open(t.id);
    for (let i = 0; i < 4; i++) {
      const { mine, theirs } = await rawOpen(raw, t, 7, 7000 * (i + 1), 33_000 + i);
      // Everything the window allows, past a one-byte gap that is never filled.
      for (const [off, len] of [[1, 32 * KiB], [1 + 32 * KiB, 32 * KiB - 1]] as const) {
        await rawSend(raw, t, { flags: FLAG.ack, srcPort: 33_000 + i, dstPort: 7, seq: seqAdd(mine, off), ack: theirs, data: Buffer.alloc(len, i) });
      }
    }
    await waitFor("the stashes to fill", () => t.streams.list().reduce((n, c) => n + c.out_of_order, 0) >= 4 * receiveBuffer - 4);
    // The hostile peer keeps these alive for as long as it likes (it answers keepalives). Another peer:
    t.streams.listen(81, () => undefined);
    const { c, s } = await connect(good, t, 82);
    const data = randomBytes(256 * KiB);
    await writeAll(c, data);
    await within("the other peer's transfer", s.done, 5000);
    expect(s.sha).toBe(sha(data));
  }, 15_000);
});

describe("review: memory a peer can make the built-in echo hold", () => {
  it("stays within the daemon-wide receive budget when the peer never opens its window", async () => {
    const buf = 64 * KiB;
    const receiveBudget = 256 * KiB;
    const t = await makeNode({ settings: { receiveBuffer: buf, sendBuffer: buf }, limits: { receiveBudget } });
    const raw = await makeNode({ raw: "record" });
    befriend(t, raw);
    t.streams.listen(7, (o) => echo(t.streams.claim(o.conn.id, o.key)));
    await raw.tunnels.open(t.id);
    const conns = 8;
    for (let i = 0; i < conns; i++) {
      const srcPort = 34_000 + i;
      await rawSend(raw, t, { flags: FLAG.syn, srcPort, dstPort: 7, seq: 100 * i, window: 0 });
      const isSynAck = (p: { packet: Packet }) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack);
      await waitFor("SYN|ACK", () => raw.packets.some(isSynAck));
      const theirs = seqAdd(raw.packets.find(isSynAck)!.packet.seq, 1);
      const mine = seqAdd(100 * i, 1);
      // In order, within the window offered; our own window stays 0, so nothing is ever echoed back.
      for (let k = 0; k < 2; k++) {
        await rawSend(raw, t, { flags: FLAG.ack, srcPort, dstPort: 7, seq: seqAdd(mine, k * 32 * KiB), ack: theirs, window: 0, data: Buffer.alloc(32 * KiB, k) });
      }
    }
    await waitFor("the data to arrive", () => t.streams.list().reduce((n, c) => n + c.bytes_received, 0) >= conns * 48 * KiB, 3000);
    await sleep(50);
    const held = t.streams.list().reduce((n, c) => n + c.send_buffered, 0);
    // The send queues hold what echo consumed (and so released from the budget) and cannot send.
    expect(held).toBeLessThanOrEqual(receiveBudget);
  }, 15_000);
});

describe("review: flow control", () => {
  it("never moves the right edge it advertises on the wire back (out-of-order data, sub-KiB reads)", async () => {
    const receiveBuffer = 64 * KiB;
    const t = await makeNode({ settings: { receiveBuffer } });
    const raw = await makeNode({ raw: "record" });
    befriend(t, raw);
    accept(t, 80, { manual: true });
    await raw.tunnels.open(t.id);
    const srcPort = 35_000;
    const { mine, theirs } = await rawOpen(raw, t, 80, 4242, srcPort);
    const offered = seqAdd(mine, receiveBuffer); // the SYN|ACK's edge: ack + 64 KiB
    // 500 bytes past a gap: the SACK that answers it advertises ack + 63 KiB.
    await rawSend(raw, t, { flags: FLAG.ack, srcPort, dstPort: 80, seq: seqAdd(mine, 1000), ack: theirs, data: Buffer.alloc(500) });
    await waitFor("the SACK", () => raw.packets.some((p) => p.packet.dstPort === srcPort && p.packet.payload[0] === 1));
    const sack = raw.packets.find((p) => p.packet.dstPort === srcPort && p.packet.payload[0] === 1)!.packet;
    const edge = seqAdd(sack.ack, sack.window * KiB);
    expect((edge - offered) | 0).toBeGreaterThanOrEqual(0);
  });
});
