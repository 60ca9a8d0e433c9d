/**
 * Stream connections between in-process daemons: Tunnels and Streams wired as the daemon wires
 * them, on real UDP sockets over loopback, with a directory standing in for the registry.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Connection } from "../src/dataplane/stream/connection.ts";
import type { ConnectionSettings, ConnectionSink } from "../src/dataplane/stream/engine.ts";
import { seqAdd } from "../src/dataplane/stream/seq.ts";
import { echo, Streams, type Offer, type StreamLimits } from "../src/dataplane/stream/streams.ts";
import { Tunnels, type PathImpairment, type PeerInfo } from "../src/dataplane/tunnel/tunnels.ts";
import { PilotError } from "../src/errors.ts";
import { Identity } from "../src/identity.ts";
import { FLAG, PROTOCOL, type Packet, type PacketFields } from "../src/wire/packet.ts";
import { sackHeader, type SackBlock } from "../src/wire/segment.ts";
import { atLeast, SLOW_TEST_MS, waitFor, within } from "./wait.ts";

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
  /** Ports of this node the stream layer lets nobody open, as a port policy would. */
  deniedPorts: Set<number>;
  /** Stream packets a raw node received. */
  packets: { peer: number; packet: Packet }[];
  /** Stream packets its tunnels delivered (the tunnels' own count includes control packets: path MTU probes). */
  streamPacketsIn: number;
  /** A dead node sends nothing more (its process is gone). */
  dead: boolean;
  /** What its tunnels' path does to the frames they send; may be changed at any time. */
  path: PathImpairment;
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
  const node = { id, allowed, streamAllowed, deniedPorts: new Set<number>(), packets, streamPacketsIn: 0, dead: false, path: { drop: options.dropRate ?? 0, reorder: 0, duplicate: 0 } } as TestNode;
  let streams!: Streams;
  const tunnels = new Tunnels({
    identity,
    me: () => id,
    allowed: (p) => allowed.has(p),
    lookup: async (p) => directory.get(p) ?? null,
    requestPath: async (p) => directory.get(p) ?? null,
    onDatagram: () => {},
    onStream:
      options.raw === "silent"
        ? undefined
        : options.raw === "record"
          ? (peer, packet) => void packets.push({ peer, packet })
          : (p, pk) => {
              node.streamPacketsIn++;
              streams.receive(p, pk);
            },
    // Read on every frame, so a test can make the path bad once a connection is up.
    impair: node.path,
  });
  if (!options.raw) {
    streams = new Streams({
      allowed: (p, port) => (options.ownStreamAllowed ? streamAllowed : allowed).has(p) && !node.deniedPorts.has(port),
      open: (p) => tunnels.open(p),
      send: (p, f) => (node.dead ? undefined : tunnels.send(p, f)),
      mss: options.mss ? () => options.mss! : (p) => tunnels.mss(p),
      refresh: (p) => tunnels.refresh(p),
      limits: options.limits,
      settings: options.settings,
    });
  }
  const { port } = (await tunnels.bind("127.0.0.1", 0)).v4;
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
  return { ends, unlisten, next: async (n = 1) => (await waitFor(() => ends.length >= n, `connection ${n} on port ${port}`), ends[n - 1]!) };
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
  await waitFor(() => raw.packets.some((p) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack)), "SYN|ACK");
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

// ── Tests ──

describe("streams: transfer", () => {
  it("carry several MiB one way intact", async () => {
    const [a, b] = await pair();
    const { c, s } = await connect(a, b, 80);
    const data = randomBytes(6 * MiB);
    await writeAll(c, data);
    await within("the transfer", s.done);
    expect(s.bytes).toBe(data.length);
    expect(s.sha).toBe(sha(data));
    expect(c.conn.describe().bytes_sent).toBeGreaterThanOrEqual(data.length);
    expect(s.conn.describe().bytes_received).toBe(data.length);
    // The server half is still open: it can answer after the client finished.
    expect(s.conn.state).toBe("CLOSE_WAIT");
    s.conn.end();
    await within("the client's finish", c.done);
    expect(c.bytes).toBe(0);
  });

  it("carry data both ways at once on one connection", async () => {
    const [a, b] = await pair();
    const { c, s } = await connect(a, b, 81);
    const up = randomBytes(4 * MiB);
    const down = randomBytes(4 * MiB + 12_345);
    await Promise.all([writeAll(c, up), writeAll(s, down)]);
    await within("both transfers", Promise.all([c.done, s.done]));
    expect(s.sha).toBe(sha(up));
    expect(c.sha).toBe(sha(down));
    expect([c.bytes, s.bytes]).toEqual([down.length, up.length]);
  });

  it("reassemble data written in uneven chunk sizes", async () => {
    const [a, b] = await pair();
    const { c, s } = await connect(a, b, 82);
    const data = randomBytes(3 * MiB + 7);
    const mss = a.tunnels.mss(b.id);
    // Single bytes, sizes around the MSS, and chunks larger than several segments.
    const sizes = [1, 7, 1000, mss - 1, mss, mss + 1, 3, 250_000, 2 * mss + 5, 1, 13, 65_536, 99_999, 2];
    await writeAll(c, data, sizes);
    await within("the transfer", s.done);
    expect(s.sha).toBe(sha(data));
  });

  it("half-close: one side ends, the other keeps sending, then ends; both linger, then leave the table", async () => {
    // Lingering outlasts any pause between the close and the check that sees it.
    const [a, b] = await pair({ settings: { lingerMs: 1500 } });
    const { c, s } = await connect(a, b, 83);
    const up = randomBytes(1 * MiB);
    await writeAll(c, up);
    await within("the client's data", s.done);
    expect(s.sha).toBe(sha(up));
    await waitFor(() => c.conn.state === "FIN_WAIT_2", "the client's FIN to be acknowledged");
    expect(s.conn.state).toBe("CLOSE_WAIT");
    // The client can no longer write, but still receives.
    expect(c.conn.write(Buffer.from("too late"))).toBe(false);
    const down = randomBytes(2 * MiB + 1);
    await writeAll(s, down, 100_000);
    await within("the server's data", c.done);
    expect(c.sha).toBe(sha(down));
    expect(c.error).toBeNull();
    expect(s.error).toBeNull();
    await waitFor(() => c.conn.phase === "closed" && s.conn.phase === "closed", "both sides to close");
    expect(a.streams.list().map((x) => x.state)).toEqual(["TIME_WAIT"]);
    await waitFor(() => a.streams.size === 0 && b.streams.size === 0, "lingering to end");
    expect(c.error).toBeNull();
    expect(s.error).toBeNull();
  });
});

describe("streams: a bad path", () => {
  it.each([
    ["5 % loss", { drop: 0.05 }],
    ["20 % loss", { drop: 0.2 }],
    ["5 % loss, 10 % reordering and 5 % duplication", { drop: 0.05, reorder: 0.1, duplicate: 0.05 }],
  ])("carry 8 MiB both ways intact through %s", async (_, path) => {
    const [a, b] = await pair();
    const { c, s } = await connect(a, b, 90);
    // The path goes bad once the connection is up: four SYNs each lost with p = 0.36 would fail a dial 1.7 % of the time.
    for (const n of [a, b]) Object.assign(n.path, path);
    const up = randomBytes(8 * MiB);
    const down = randomBytes(8 * MiB);
    await Promise.all([writeAll(c, up), writeAll(s, down)]);
    await within("both transfers", Promise.all([c.done, s.done]), 90_000);
    expect(s.sha).toBe(sha(up));
    expect(c.sha).toBe(sha(down));
    expect(c.conn.describe().retransmits).toBeGreaterThan(0);
    expect(s.conn.describe().retransmits).toBeGreaterThan(0);
    expect(c.conn.describe().loss_episodes + c.conn.describe().timeouts).toBeGreaterThan(0);
  }, SLOW_TEST_MS);
});

describe("streams: flow control", () => {
  it.each([0, 0.1])("a slow reader closes the window, holds no more than its receive buffer, and still gets everything (loss %s)", async (dropRate) => {
    const receiveBuffer = 256 * KiB;
    const [a, b] = await pair({ settings: { receiveBuffer, maxBuffer: receiveBuffer, sendBuffer: 256 * KiB } });
    const { c, s } = await connect(a, b, 100, { serverManual: true });
    a.path.drop = b.path.drop = dropRate;
    let minPeerWindow = Infinity;
    let minReceiveWindow = Infinity;
    let maxHeld = 0;
    let maxOutOfOrder = 0;
    const sample = setInterval(() => {
      minPeerWindow = Math.min(minPeerWindow, c.conn.describe().peer_window);
      const r = s.conn.describe();
      minReceiveWindow = Math.min(minReceiveWindow, r.receive_window);
      maxOutOfOrder = Math.max(maxOutOfOrder, r.out_of_order);
      maxHeld = Math.max(maxHeld, s.unconsumed + r.out_of_order);
    }, 2);
    // Some 128 segments: with 10 % loss, some data is surely lost and sent again.
    const data = randomBytes(8 * MiB);
    const writing = writeAll(c, data, 32 * KiB);
    try {
      // The reader takes nothing for a while: the window must close.
      await waitFor(() => c.blocked > 0, "the sender to be blocked");
      await waitFor(() => c.conn.describe().peer_window === 0 && s.conn.describe().receive_window === 0 && s.conn.describe().out_of_order === 0, "the advertised window to close");
      expect(s.unconsumed).toBeLessThanOrEqual(receiveBuffer);
      expect(s.unconsumed).toBeGreaterThan(receiveBuffer / 2);
      // Nothing more arrives while the window is shut. The sender probes it: once a probe has
      // reached the receiver, data sent past the window before it would have arrived too.
      const stalledAt = s.bytes;
      const heard = s.conn.describe().segments_received;
      await waitFor(() => s.conn.describe().segments_received > heard, "the sender to probe the shut window");
      expect(s.bytes).toBe(stalledAt);
      // Then it reads a little at a time.
      const reader = setInterval(() => s.consume(8 * KiB), 1);
      try {
        await within("the slow transfer", s.done, 90_000);
      } finally {
        clearInterval(reader);
      }
      await writing;
    } finally {
      clearInterval(sample);
    }
    s.consume(s.unconsumed);
    expect(s.sha).toBe(sha(data));
    expect(c.blocked).toBeGreaterThan(0);
    expect(minPeerWindow).toBe(0);
    expect(minReceiveWindow).toBe(0);
    expect(Math.max(maxHeld, s.maxHeld)).toBeLessThanOrEqual(receiveBuffer);
    if (dropRate) expect(c.conn.describe().retransmits).toBeGreaterThan(0);
  }, SLOW_TEST_MS);
});

describe("streams: refusal and enforcement", () => {
  it("refuse a dial to a port nobody listens on with connection_refused", async () => {
    const [a, b] = await pair();
    const error = await a.streams.dial(b.id, 4444).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PilotError);
    expect((error as PilotError).code).toBe("connection_refused");
    expect(b.streams.stats.refused).toBe(1);
    expect(a.streams.size).toBe(0);
    expect(b.streams.size).toBe(0);
  });

  it("give a stranger no tunnel and no answer", async () => {
    const [t, stranger] = [await makeNode(), await makeNode()];
    stranger.allowed.add(t.id); // the stranger wants in; the target does not allow it
    accept(t, 80);
    await expect(stranger.streams.dial(t.id, 80)).rejects.toMatchObject({ code: "no_path" });
    expect(t.tunnels.stats.dropped).toBeGreaterThan(0);
    expect(t.streams.size).toBe(0);
    expect(stranger.tunnels.stats.received).toBe(0);
  });

  it("drop a SYN silently over a tunnel from a peer the target no longer allows", async () => {
    const [t, s] = await pair();
    const offers: Offer[] = [];
    t.streams.listen(80, (o) => offers.push(o));
    await s.tunnels.ping(t.id); // a tunnel exists
    t.allowed.delete(s.id); // no longer allowed; the tunnel is not dropped
    const receivedBefore = s.streamPacketsIn;
    const droppedBefore = t.tunnels.stats.dropped;
    const dial = s.streams.dial(t.id, 80).then(
      () => "opened",
      (e: PilotError) => e.code,
    );
    // The SYN and one retransmission go out and reach the target, which drops them (with whatever
    // else the peer sends it, such as path MTU probes); an answer to the first would have come back
    // before the second was sent.
    await waitFor(() => (s.streams.list()[0]?.segments_sent ?? 0) >= 2, "a retransmitted SYN");
    await waitFor(() => t.tunnels.stats.dropped >= droppedBefore + 2, "the SYN and a retransmission to be dropped");
    expect(s.streams.list()).toMatchObject([{ state: "SYN_SENT", segments_received: 0 }]);
    expect(s.streams.list()[0]!.segments_sent).toBeGreaterThanOrEqual(2);
    expect(s.streamPacketsIn).toBe(receivedBefore);
    expect(t.tunnels.stats.dropped).toBeGreaterThanOrEqual(2);
    expect(t.streams.size).toBe(0);
    expect(t.streams.stats.refused).toBe(0);
    expect(offers).toEqual([]);
    s.streams.close();
    expect(await dial).toBe("not_running");
  });

  it("drop a SYN silently, without RST, when only the stream layer forbids the peer", async () => {
    const t = await makeNode({ ownStreamAllowed: true });
    const s = await makeNode({ ownStreamAllowed: true });
    befriend(t, s);
    const offers: Offer[] = [];
    t.streams.listen(80, (o) => offers.push(o));
    t.streamAllowed.delete(s.id); // tunnels still carry its traffic; streams may not accept it
    const dial = s.streams.dial(t.id, 80).then(
      () => "opened",
      (e: PilotError) => e.code,
    );
    await waitFor(() => t.streams.stats.dropped >= 1, "the SYN to reach the target");
    const receivedBefore = s.streamPacketsIn;
    await waitFor(() => t.streams.stats.dropped >= 2, "a retransmitted SYN to be dropped too");
    expect(t.streams.stats.dropped).toBeGreaterThanOrEqual(2);
    expect(t.streams.stats.refused).toBe(0);
    expect(t.streams.size).toBe(0);
    expect(offers).toEqual([]);
    expect(s.streams.list()).toMatchObject([{ state: "SYN_SENT", segments_received: 0 }]);
    expect(s.streamPacketsIn).toBe(receivedBefore);
    // Allowed again, the next retransmission gets through.
    t.streamAllowed.add(s.id);
    expect(await within("the dial", dial)).toBe("opened");
  });
});

describe("streams: dropPeer", () => {
  it("fails every connection with the peer at once, and only those", async () => {
    const [a, b] = await pair();
    const c2 = await makeNode();
    befriend(c2, b);
    const listener = accept(b, 80);
    const fromA = attach(await a.streams.dial(b.id, 80));
    const fromC = attach(await c2.streams.dial(b.id, 80));
    await listener.next(2);
    const [atB] = listener.ends.filter((e) => e.conn.peer === a.id);
    const [otherAtB] = listener.ends.filter((e) => e.conn.peer === c2.id);
    const dataA = randomBytes(16 * MiB);
    const dataC = randomBytes(2 * MiB);
    const writingA = writeAll(fromA, dataA).catch((e: PilotError) => e);
    const writingC = writeAll(fromC, dataC);
    await waitFor(() => atB!.bytes > MiB, "the transfer to be under way");
    expect(atB!.finished).toBe(false);
    b.streams.dropPeer(a.id, new PilotError("peer_cut_off", `node ${a.id} was cut off`, "test"));
    // At once, synchronously.
    expect(atB!.error?.code).toBe("peer_cut_off");
    expect(b.streams.list().filter((x) => x.node_id === a.id)).toEqual([]);
    expect(b.streams.list().filter((x) => x.node_id === c2.id)).toHaveLength(1);
    await expect(atB!.done).rejects.toMatchObject({ code: "peer_cut_off" });
    // The other peer's connection is untouched and completes.
    await writingC;
    await within("the other transfer", otherAtB!.done);
    expect(otherAtB!.sha).toBe(sha(dataC));
    // A still allowed, still tunnelled A learns of it from the RST its next segment draws.
    await within("the dropped peer to hear of it", fromA.done.catch(() => undefined));
    expect(fromA.error?.code).toBe("connection_reset");
    expect(await writingA).toBeInstanceOf(PilotError);
    expect(atB!.bytes).toBeLessThan(dataA.length);
  });
});

describe("streams: port policies", () => {
  it("reset the connections a peer opened on a port no longer allowed, and only those; a new SYN there is dropped silently", async () => {
    const [a, b] = await pair();
    const at80 = accept(b, 80);
    const at81 = accept(b, 81);
    const atA = accept(a, 80);
    const to80 = attach(await a.streams.dial(b.id, 80));
    const to81 = attach(await a.streams.dial(b.id, 81));
    const fromB = attach(await b.streams.dial(a.id, 80));
    await Promise.all([at80.next(1), at81.next(1), atA.next(1)]);
    b.deniedPorts.add(80);
    const error = new PilotError("peer_cut_off", "port 80 is no longer allowed", "test");
    expect(b.streams.resetUnallowed(() => error)).toBe(1);
    expect(at80.ends[0]!.error).toBe(error);
    // The dialer hears of it from the RST.
    await within("the dialer to hear of the reset", to80.done.catch(() => undefined));
    expect(to80.error?.code).toBe("connection_reset");
    // Port 81, and the connection b opened itself to a's port 80, carry on.
    expect(b.streams.list().map((c) => [c.local_port === 81 || c.remote_port === 80, c.state])).toEqual([
      [true, "ESTABLISHED"],
      [true, "ESTABLISHED"],
    ]);
    expect(to81.error).toBeNull();
    expect(fromB.error).toBeNull();
    const dropped = b.streams.stats.dropped;
    const refused = b.streams.stats.refused;
    const again = a.streams.dial(b.id, 80).then(
      () => "opened",
      (e: PilotError) => e.code,
    );
    await waitFor(() => b.streams.stats.dropped > dropped, "the SYN to be dropped");
    expect(b.streams.stats.refused).toBe(refused);
    b.deniedPorts.delete(80);
    expect(await within("the dial once allowed again", again)).toBe("opened");
  });
});

describe("streams: limits", () => {
  it("hold at most halfOpenPerPeer half-open connections from a SYN flood, and still serve others", async () => {
    const halfOpenPerPeer = 4;
    const t = await makeNode({ limits: { halfOpenPerPeer } });
    const flooder = await makeNode({ raw: "silent" });
    const good = await makeNode();
    befriend(t, flooder);
    befriend(t, good);
    const listener = accept(t, 80);
    await flooder.tunnels.open(t.id);
    const floods = 40;
    for (let i = 0; i < floods; i++) {
      await rawSend(flooder, t, { flags: FLAG.syn, srcPort: 30_000 + i, dstPort: 80, seq: (i * 0x1234_5677) >>> 0 });
    }
    await waitFor(() => t.streams.stats.dropped >= floods - halfOpenPerPeer, "the flood to be handled");
    const halfOpen = () => t.streams.list().filter((x) => x.state === "SYN_RECV");
    expect(halfOpen()).toHaveLength(halfOpenPerPeer);
    expect(halfOpen().every((x) => x.node_id === flooder.id)).toBe(true);
    expect(t.streams.stats.dropped).toBe(floods - halfOpenPerPeer);
    expect(t.streams.stats.refused).toBe(0);
    // Another allowed peer still connects and transfers.
    const c = attach(await good.streams.dial(t.id, 80));
    const s = await listener.next();
    const data = randomBytes(MiB);
    await writeAll(c, data);
    await within("the transfer", s.done);
    expect(s.sha).toBe(sha(data));
    expect(halfOpen().length).toBeLessThanOrEqual(halfOpenPerPeer);
  });

  it("refuse connections past perPeer, and still accept another peer", async () => {
    const perPeer = 3;
    const t = await makeNode({ limits: { perPeer } });
    const a = await makeNode();
    const other = await makeNode();
    befriend(t, a);
    befriend(t, other);
    const listener = accept(t, 80);
    for (let i = 0; i < perPeer; i++) attach(await a.streams.dial(t.id, 80));
    await listener.next(perPeer);
    await expect(a.streams.dial(t.id, 80)).rejects.toMatchObject({ code: "connection_refused" });
    expect(t.streams.stats.refused).toBe(1);
    expect(t.streams.list().filter((x) => x.node_id === a.id)).toHaveLength(perPeer);
    const c = attach(await other.streams.dial(t.id, 80));
    const s = await listener.next(perPeer + 1);
    const data = randomBytes(256 * KiB);
    await writeAll(c, data);
    await within("the transfer", s.done);
    expect(s.sha).toBe(sha(data));
    // Once one closes, the peer may connect again.
    listener.ends[0]!.conn.reset();
    await waitFor(() => t.streams.list().filter((x) => x.node_id === a.id).length < perPeer, "the slot to free");
    attach(await a.streams.dial(t.id, 80));
  });

  it("refuse a dial past the dialer's own total with too_many_connections", async () => {
    const a = await makeNode({ limits: { total: 2 } });
    const t = await makeNode();
    befriend(a, t);
    accept(t, 80);
    attach(await a.streams.dial(t.id, 80));
    attach(await a.streams.dial(t.id, 80));
    await expect(a.streams.dial(t.id, 80)).rejects.toMatchObject({ code: "too_many_connections" });
    expect(a.streams.size).toBe(2);
  });

  it("reset offers past the listener's backlog, and unclaimed offers after claimMs", async () => {
    // claimMs outlasts the dials and checks below, however slow the machine.
    const t = await makeNode({ limits: { backlog: 2, claimMs: 2000 } });
    const a = await makeNode();
    befriend(t, a);
    const offers: Offer[] = [];
    t.streams.listen(80, (o) => offers.push(o)); // never claims
    const ends: End[] = [];
    for (let i = 0; i < 4; i++) ends.push(attach(await a.streams.dial(t.id, 80)));
    await waitFor(() => ends.filter((e) => e.error).length === 2, "the extra offers to be reset");
    expect(ends.filter((e) => e.error).map((e) => e.error!.code)).toEqual(["connection_reset", "connection_reset"]);
    expect(offers).toHaveLength(2);
    expect(t.streams.list().map((x) => x.state)).toEqual(["ESTABLISHED", "ESTABLISHED"]);
    // The wrong key claims nothing, and the offer stays.
    expect(() => t.streams.claim(offers[0]!.conn.id, "0".repeat(32))).toThrow(expect.objectContaining({ code: "not_found" }));
    expect(t.streams.size).toBe(2);
    // Unclaimed, the two left are reset after claimMs (checked by the once-a-second sweep).
    await waitFor(() => ends.every((e) => e.error), "unclaimed offers to be reset");
    expect(ends.map((e) => e.error!.code)).toEqual(Array(4).fill("connection_reset"));
    expect(t.streams.size).toBe(0);
    expect(a.streams.size).toBe(0);
    expect(() => t.streams.claim(offers[1]!.conn.id, offers[1]!.key)).toThrow(expect.objectContaining({ code: "not_found" }));
  });
});

describe("streams: malformed input", () => {
  it("drop malformed packets, keep no data beyond the window, and keep serving", async () => {
    const receiveBuffer = 64 * KiB;
    const t = await makeNode({ settings: { receiveBuffer, maxBuffer: receiveBuffer } });
    const raw = await makeNode({ raw: "record" });
    const a = await makeNode();
    befriend(t, raw);
    befriend(t, a);
    const listener = accept(t, 80, { keep: true });
    await raw.tunnels.open(t.id);
    const fromTarget = (port: number) => raw.packets.filter((p) => p.packet.dstPort === port);

    const malformed: [string, Parameters<typeof rawSend>[2]][] = [
      ["SACK count above 4", { flags: FLAG.syn, srcPort: 31_001, dstPort: 80, seq: 1, payload: [Buffer.from([5]), Buffer.alloc(40)] }],
      ["SACK count of 255", { flags: FLAG.syn, srcPort: 31_002, dstPort: 80, seq: 1, payload: [Buffer.from([255]), Buffer.alloc(64)] }],
      ["SACK blocks overrunning the payload", { flags: FLAG.syn, srcPort: 31_003, dstPort: 80, seq: 1, payload: [Buffer.from([2]), Buffer.alloc(12)] }],
      ["an empty payload", { flags: FLAG.syn, srcPort: 31_004, dstPort: 80, seq: 1, payload: EMPTY }],
      ["destination port 0", { flags: FLAG.syn, srcPort: 31_005, dstPort: 0, seq: 1 }],
      ["source port 0", { flags: FLAG.syn, srcPort: 0, dstPort: 80, seq: 1 }],
      ["data to port 0", { flags: FLAG.ack, srcPort: 31_006, dstPort: 0, seq: 1, data: Buffer.from("hi") }],
    ];
    for (const [what, fields] of malformed) {
      const before = t.streams.stats.dropped;
      await rawSend(raw, t, fields);
      await waitFor(() => t.streams.stats.dropped === before + 1, `${what} to be dropped`);
    }
    expect(t.streams.size).toBe(0);
    expect(t.streams.stats.refused).toBe(0);

    // A real connection, from an initial sequence number just short of wrapping.
    const iss = 0xffff_ff00;
    const { mine, theirs, window } = await rawHandshake(raw, t, 80, iss, 31_100);
    // Its SYN|ACK came after anything the malformed packets drew: no SYN|ACK, no RST, nothing at all.
    expect(raw.packets.filter((p) => p.packet.dstPort !== 31_100)).toEqual([]);
    expect(window).toBe(receiveBuffer / KiB);
    const s = await listener.next();
    const conn = s.conn;
    const send = (offset: number, data: Buffer) => rawSend(raw, t, { flags: FLAG.ack, srcPort: 31_100, dstPort: 80, seq: seqAdd(mine, offset), ack: theirs, data });
    // Beyond the advertised window: wholly, and straddling its edge.
    await send(receiveBuffer, Buffer.alloc(100, 1));
    await send(receiveBuffer - 100, Buffer.alloc(200, 2));
    await send(receiveBuffer + 10_000, Buffer.alloc(5000, 3));
    await waitFor(() => conn.describe().segments_received >= 4, "the segments to arrive");
    expect(conn.describe()).toMatchObject({ out_of_order: 0, bytes_received: 0 });
    expect(s.bytes).toBe(0);
    // Within the window, past a gap, across the wrap of the sequence space.
    const body = randomBytes(1500);
    await send(1000, body.subarray(1000));
    await waitFor(() => conn.describe().out_of_order === 500, "the out-of-order segment");
    await waitFor(
      () => fromTarget(31_100).some((p) => p.packet.payload[0] === 1 && p.packet.payload.readUInt32BE(1) === seqAdd(mine, 1000) && p.packet.payload.readUInt32BE(5) === seqAdd(mine, 1500)),
      "a SACK for it",
    );
    await send(0, body.subarray(0, 1000));
    await waitFor(() => s.bytes === 1500, "in-order delivery");
    expect(Buffer.concat(s.data).equals(body)).toBe(true);
    expect(conn.describe().out_of_order).toBe(0);
    await waitFor(() => fromTarget(31_100).some((p) => p.packet.ack === seqAdd(mine, 1500)), "the cumulative ACK");
    expect(seqAdd(mine, 1500)).toBeLessThan(iss); // it did wrap

    // A normal peer still gets a normal transfer.
    const c = attach(await a.streams.dial(t.id, 80));
    const s2 = await listener.next(2);
    const data = randomBytes(MiB);
    await writeAll(c, data);
    await within("the transfer", s2.done);
    expect(s2.sha).toBe(sha(data));
  });

  it("hold no more out-of-order data than the receive buffer, even from overlapping segments", async () => {
    const receiveBuffer = 64 * KiB;
    const t = await makeNode({ settings: { receiveBuffer, maxBuffer: receiveBuffer } });
    const raw = await makeNode({ raw: "record" });
    befriend(t, raw);
    const listener = accept(t, 80);
    await raw.tunnels.open(t.id);
    const { mine, theirs } = await rawHandshake(raw, t, 80, 5000, 31_200);
    const s = await listener.next();
    // Segments past a one-byte gap, each starting one byte after the last: every one is inside
    // the window offered, but together they are many times its size.
    const count = 200;
    for (let i = 0; i < count; i++) {
      await rawSend(raw, t, { flags: FLAG.ack, srcPort: 31_200, dstPort: 80, seq: seqAdd(mine, 1 + i), ack: theirs, data: Buffer.alloc(1000, i) });
    }
    await waitFor(() => s.conn.describe().segments_received >= count + 1, "the segments to arrive");
    expect(s.conn.describe().out_of_order).toBeLessThanOrEqual(receiveBuffer);
  });

  it("survive an allowed peer acknowledging part of a segment", async () => {
    // Small segments, so several are in flight, and a send queue of many small chunks.
    const mss = 1000;
    const t = await makeNode({ mss });
    const raw = await makeNode({ raw: "record" });
    befriend(t, raw);
    const listener = accept(t, 80);
    await raw.tunnels.open(t.id);
    const { mine, theirs } = await rawHandshake(raw, t, 80, 9000, 31_300);
    const s = await listener.next();
    for (let i = 0; i < 16; i++) s.conn.write(Buffer.alloc(250, i)); // four segments of 1000 go out at once
    expect(s.conn.describe().in_flight).toBe(4000);
    // An ACK halfway into the first segment, with the other three SACKed: the first is declared
    // lost and sent again at once.
    const partial = packetFrom(raw, t, { flags: FLAG.ack, srcPort: 31_300, dstPort: 80, seq: mine, ack: seqAdd(theirs, 500), window: 64, sack: [{ start: seqAdd(theirs, 1000), end: seqAdd(theirs, 4000) }] });
    expect(() => t.streams.receive(raw.id, partial)).not.toThrow();
    expect(t.streams.size).toBe(1);
  });
});

describe("streams: keepalive and dead peers", () => {
  it("keep an idle connection open past deadAfterMs, and time out once the peer is gone", async () => {
    // Ten keepalives to a deadline: a pause on a busy machine does not pass for a dead peer.
    const settings = { keepaliveMs: 200, deadAfterMs: 2000 };
    const [a, b] = await pair({ settings });
    const { c, s } = await connect(a, b, 110);
    const heardBefore = c.conn.describe().segments_received;
    // Idle, well past deadAfterMs: a lower bound, as only the time passing can show it.
    await atLeast(1.5 * settings.deadAfterMs);
    expect(c.error).toBeNull();
    expect(s.error).toBeNull();
    expect(c.conn.state).toBe("ESTABLISHED");
    expect(s.conn.state).toBe("ESTABLISHED");
    expect(c.conn.describe().segments_received).toBeGreaterThan(heardBefore); // keepalives were answered
    expect(a.streams.size).toBe(1);
    // B dies: its tunnels close and nothing more leaves it.
    const diedAt = performance.now();
    b.dead = true;
    b.tunnels.close();
    await within("the dead peer to be noticed", c.done.catch(() => undefined));
    expect(c.error?.code).toBe("timeout");
    expect(performance.now() - diedAt).toBeGreaterThanOrEqual(settings.deadAfterMs - 300);
    expect(a.streams.size).toBe(0);
  });

  it("time out a transfer whose peer dies mid-way", async () => {
    const [a, b] = await pair({ settings: { keepaliveMs: 200, deadAfterMs: 2000 } });
    const { c, s } = await connect(a, b, 111);
    const writing = writeAll(c, randomBytes(32 * MiB)).catch((e: PilotError) => e);
    await waitFor(() => s.bytes > MiB, "the transfer to be under way");
    b.dead = true;
    b.tunnels.close();
    await within("the dead peer to be noticed", c.done.catch(() => undefined));
    expect(c.error?.code).toBe("timeout");
    expect(await writing).toMatchObject({ code: "timeout" });
    expect(a.streams.size).toBe(0);
  });
});

describe("streams: echo", () => {
  it("echoes a multi-MiB payload back intact", async () => {
    const [a, b] = await pair();
    b.streams.listen(7, (o) => echo(b.streams.claim(o.conn.id, o.key)));
    const c = attach(await a.streams.dial(b.id, 7));
    const data = randomBytes(6 * MiB + 321);
    await writeAll(c, data, 100_000);
    await within("the echo", c.done);
    expect(c.bytes).toBe(data.length);
    expect(c.sha).toBe(sha(data));
  });

  it("echoes to a reader slower than the writer without losing bytes", async () => {
    const [a, b] = await pair({ settings: { receiveBuffer: 256 * KiB, sendBuffer: 256 * KiB, maxBuffer: 256 * KiB } });
    b.streams.listen(7, (o) => echo(b.streams.claim(o.conn.id, o.key)));
    const c = attach(await a.streams.dial(b.id, 7), { manual: true });
    const reader = setInterval(() => c.consume(32 * KiB), 1);
    try {
      const data = randomBytes(2 * MiB);
      await writeAll(c, data, 50_000);
      await within("the echo", c.done);
      expect(c.sha).toBe(sha(data));
    } finally {
      clearInterval(reader);
    }
  });
});

describe("tunnels after close", () => {
  it("a send after close fails without touching the closed socket", async () => {
    const [a, b] = await pair();
    await a.tunnels.open(b.id);
    const socket = a.tunnels.socket;
    const send = socket.send.bind(socket);
    let closed = false;
    let sendsAfterClose = 0;
    // Guard the socket: a real send on a closed socket throws ERR_SOCKET_DGRAM_NOT_RUNNING from a timer.
    (socket as { send: unknown }).send = (...args: Parameters<typeof send>) => (closed ? void sendsAfterClose++ : send(...args));
    a.tunnels.close();
    closed = true;
    // What Streams does when a keepalive or retransmission fires after the tunnels closed.
    const sent = a.tunnels.send(b.id, { flags: FLAG.ack, protocol: PROTOCOL.stream, srcPort: 1, dstPort: 2, seq: 0, ack: 0, window: 0, payload: [sackHeader([]), EMPTY] });
    const settled = Promise.resolve(sent).then(
      () => "sent",
      (e: PilotError) => e.code,
    );
    // It settles (dropped or refused) rather than hanging; by then, and once the socket has
    // closed, whatever the send was going to transmit has been tried.
    expect(typeof (await within("the send to settle", settled))).toBe("string");
    await within("the socket to close", new Promise((r) => socket.once("close", r)));
    expect(sendsAfterClose).toBe(0);
  });
});

// ── Found in review: budgets, the echo service, the advertised edge ──

async function rawOpen(raw: TestNode, target: TestNode, port: number, iss: number, srcPort: number, data?: Buffer) {
  await rawSend(raw, target, { flags: FLAG.syn, srcPort, dstPort: port, seq: iss });
  const isSynAck = (p: { packet: Packet }) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack);
  await waitFor(() => raw.packets.some(isSynAck), "SYN|ACK");
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
    await waitFor(() => t.streams.list().some((c) => c.state === "ESTABLISHED"), "the first offer");
    // Four more, each completing the handshake with 60 KiB in its ACK: each is reset at once (backlog full).
    for (let i = 1; i <= 4; i++) await rawOpen(raw, t, 80, 1000 * (i + 1), 32_000 + i, randomBytes(60 * KiB));
    await waitFor(() => raw.packets.filter((p) => p.packet.flags & FLAG.rst).length >= 4, "the four resets");
    unlisten(); // resets the waiting offer too: nothing of the raw peer's is left
    await waitFor(() => t.streams.size === 0, "the table to empty");
    // Every byte the daemon holds for programs has been released, so another peer transfers normally.
    const { c, s } = await connect(good, t, 81);
    const data = randomBytes(512 * KiB);
    await writeAll(c, data);
    await within("the other peer's transfer", s.done);
    expect(s.sha).toBe(sha(data));
  });

  it("one peer filling its connections' out-of-order buffers (to the built-in echo) does not starve another peer", async () => {
    const receiveBuffer = 64 * KiB;
    // 256 KiB daemon-wide, 128 KiB from any one peer: the defaults (256 MiB, 32 MiB) scaled down.
    const t = await makeNode({ settings: { receiveBuffer, maxBuffer: receiveBuffer }, limits: { receiveBudget: 4 * receiveBuffer, peerReceiveBudget: 2 * receiveBuffer } });
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
    // The hostile peer gets its share of the budget and no more.
    // A ping answered through the same tunnel: the target has handled every segment sent before it.
    await raw.tunnels.ping(t.id, 20_000);
    const stashed = t.streams.list().reduce((n, c) => n + c.out_of_order, 0);
    expect(stashed).toBeGreaterThanOrEqual(2 * receiveBuffer - 4);
    expect(stashed).toBeLessThanOrEqual(2 * receiveBuffer);
    // The hostile peer keeps these alive for as long as it likes (it answers keepalives). Another peer:
    t.streams.listen(81, () => undefined);
    const { c, s } = await connect(good, t, 82);
    const data = randomBytes(256 * KiB);
    await writeAll(c, data);
    await within("the other peer's transfer", s.done);
    expect(s.sha).toBe(sha(data));
  });
});

describe("review: memory a peer can make the built-in echo hold", () => {
  it("stays within the daemon-wide receive budget when the peer never opens its window", async () => {
    const buf = 64 * KiB;
    const receiveBudget = 256 * KiB;
    const t = await makeNode({ settings: { receiveBuffer: buf, sendBuffer: buf, maxBuffer: buf }, limits: { receiveBudget } });
    const raw = await makeNode({ raw: "record" });
    befriend(t, raw);
    t.streams.listen(7, (o) => echo(t.streams.claim(o.conn.id, o.key)));
    await raw.tunnels.open(t.id);
    const conns = 8;
    for (let i = 0; i < conns; i++) {
      const srcPort = 34_000 + i;
      await rawSend(raw, t, { flags: FLAG.syn, srcPort, dstPort: 7, seq: 100 * i, window: 0 });
      const isSynAck = (p: { packet: Packet }) => p.packet.dstPort === srcPort && p.packet.flags === (FLAG.syn | FLAG.ack);
      await waitFor(() => raw.packets.some(isSynAck), "SYN|ACK");
      const theirs = seqAdd(raw.packets.find(isSynAck)!.packet.seq, 1);
      const mine = seqAdd(100 * i, 1);
      // In order, within the window offered; our own window stays 0, so nothing is ever echoed back.
      for (let k = 0; k < 2; k++) {
        await rawSend(raw, t, { flags: FLAG.ack, srcPort, dstPort: 7, seq: seqAdd(mine, k * 32 * KiB), ack: theirs, window: 0, data: Buffer.alloc(32 * KiB, k) });
      }
    }
    // A ping answered through the same tunnel: the target has handled every segment sent before it.
    await raw.tunnels.ping(t.id, 20_000);
    expect(t.streams.list().reduce((n, c) => n + c.bytes_received, 0)).toBeGreaterThanOrEqual(receiveBudget - 64 * KiB);
    // Echo counts what it holds for sending as unread until the peer takes it: past the budget,
    // the rest is dropped (to be sent again), not queued.
    const list = t.streams.list();
    expect(list.reduce((n, c) => n + c.send_buffered, 0)).toBeLessThanOrEqual(receiveBudget);
    expect(list.reduce((n, c) => n + c.bytes_received, 0)).toBeLessThanOrEqual(receiveBudget);
  });
});

describe("review: flow control", () => {
  it("never moves the right edge it advertises on the wire back (out-of-order data, sub-KiB reads)", async () => {
    const receiveBuffer = 64 * KiB;
    const t = await makeNode({ settings: { receiveBuffer, maxBuffer: receiveBuffer } });
    const raw = await makeNode({ raw: "record" });
    befriend(t, raw);
    accept(t, 80, { manual: true });
    await raw.tunnels.open(t.id);
    const srcPort = 35_000;
    const { mine, theirs } = await rawOpen(raw, t, 80, 4242, srcPort);
    const offered = seqAdd(mine, receiveBuffer); // the SYN|ACK's edge: ack + 64 KiB
    // 500 bytes past a gap: the SACK that answers it advertises ack + 63 KiB.
    await rawSend(raw, t, { flags: FLAG.ack, srcPort, dstPort: 80, seq: seqAdd(mine, 1000), ack: theirs, data: Buffer.alloc(500) });
    await waitFor(() => raw.packets.some((p) => p.packet.dstPort === srcPort && p.packet.payload[0] === 1), "the SACK");
    const sack = raw.packets.find((p) => p.packet.dstPort === srcPort && p.packet.payload[0] === 1)!.packet;
    const edge = seqAdd(sack.ack, sack.window * KiB);
    expect((edge - offered) | 0).toBeGreaterThanOrEqual(0);
  });
});
