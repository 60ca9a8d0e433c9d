/**
 * Streams end to end: real daemon processes on loopback, programs using the SDK. Large transfers
 * are checked by SHA-256, both ways at once, over clean and lossy paths (the daemons' test hook
 * PILOT_TEST_DROP_RATE throws away that share of their encrypted frames) and past a slow reader;
 * enforcement at accept and revocation of live connections; and floods that must leave the daemon
 * serving its trusted peers.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity.ts";
import { Tunnels } from "../../src/dataplane/tunnel/tunnels.ts";
import { binaryHeader, encodeFrame } from "../../src/local-socket/frames.ts";
import type { ConnectionListing } from "../../src/dataplane/stream/streams.ts";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { FLAG, PROTOCOL } from "../../src/wire/packet.ts";
import { sackHeader } from "../../src/wire/segment.ts";
import { befriend, SLOW_TEST_MS, waitFor, within } from "../wait.ts";
import { Cluster, pilotctl, withEnv, type Daemon } from "./cluster.ts";
import { impersonate } from "./rogue.ts";
import { keepWriting } from "./live-stream.ts";
import { MiB, pattern, readAll, sha, writeAll } from "./transfer.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let nextPort = 2000;

/** Two daemons that trust each other; `env` goes to both daemon processes. */
async function friends(name: string, env: Record<string, string> = {}): Promise<[Daemon, Daemon]> {
  const [a, b] = await withEnv(env, async () => [await cluster.daemon(`${name}-a`), await cluster.daemon(`${name}-b`)]);
  await befriend(a, b, "streams test");
  return [a, b];
}

/**
 * Polls a daemon's connections to `peer` (through its socket, as pilotctl would) until `test`
 * holds for one of them or no such connection is left.
 */
async function watch(d: Daemon, peer: number, test: (c: ConnectionListing) => boolean): Promise<void> {
  const pilot = await Pilot.connect(d.home);
  try {
    for (let seen = false; ; await sleep(50)) {
      const conns = (await pilot.connections()).filter((c) => c.node_id === peer);
      if (conns.some(test)) return;
      if (seen && conns.length === 0) return;
      seen ||= conns.length > 0;
    }
  } finally {
    pilot.close();
  }
}

/** `size` bytes each way at once on one connection; returns what each side read. */
async function exchange(a: Daemon, b: Daemon, size: number, options: { pauseMs?: number; onWhile?: () => Promise<void> } = {}) {
  const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
  const [fromA, fromB] = [pattern(size, 1), pattern(size, 2)];
  const port = nextPort++;
  let serve!: (conn: PilotConnection) => void;
  const served = new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
    serve = (conn) => void Promise.all([readAll(conn, options.pauseMs), writeAll(conn, fromB)]).then(([read]) => resolve(read), reject);
  });
  // Bound before dialing: a SYN that arrives first is refused.
  await pb.listen(port, (conn) => serve(conn));
  const conn = await pa.dial(b.nodeId, port);
  const watching = options.onWhile?.();
  const [[readByA, written], readByB] = await Promise.all([Promise.all([readAll(conn), writeAll(conn, fromA)]), served]);
  await watching;
  pa.close();
  pb.close();
  return { readByA, readByB, written, expectA: sha(fromB), expectB: sha(fromA) };
}

describe("transfers", () => {
  it("carries 64 MiB both ways at once, intact", async () => {
    const [a, b] = await friends("clean");
    const r = await exchange(a, b, 64 * MiB);
    expect(r.readByB).toEqual({ hash: r.expectB, bytes: 64 * MiB });
    expect(r.readByA).toEqual({ hash: r.expectA, bytes: 64 * MiB });
  }, SLOW_TEST_MS);

  it("a daemon refuses to start on a bad test hook, and says what is wrong", async () => {
    // One hook of each kind through pilotctl; test-hooks.test.ts holds every bad value.
    const cases = [
      ["PILOT_TEST_DROP_RATE", "0.9", "a number from 0 to 0.5"],
      ["PILOT_TEST_MTU_RAISE_MS", "fast", "a whole number of milliseconds from 100 to 600000"],
    ];
    for (const [name, bad, rule] of cases) {
      const home = mkdtempSync(join(tmpdir(), "pilot-droprate-"));
      const r = await withEnv({ [name!]: bad! }, () =>
        pilotctl(home, ["daemon", "start", "--registry", cluster.registry.url, "--stun", "off", "--listen", "127.0.0.1:0"]),
      );
      rmSync(home, { recursive: true, force: true });
      expect(r.ok).toBe(false);
      expect(r.error?.message).toContain(`${name} must be ${rule}, not ${JSON.stringify(bad)}`);
    }
  }, SLOW_TEST_MS);

  it("carries 16 MiB both ways at once through loss, reordering and duplication, intact", async () => {
    const [a, b] = await friends("reorder", { PILOT_TEST_DROP_RATE: "0.02", PILOT_TEST_REORDER_RATE: "0.1", PILOT_TEST_DUPLICATE_RATE: "0.05" });
    const r = await exchange(a, b, 16 * MiB);
    expect(r.readByB).toEqual({ hash: r.expectB, bytes: 16 * MiB });
    expect(r.readByA).toEqual({ hash: r.expectA, bytes: 16 * MiB });
  }, 180_000);

  it("carries 8 MiB both ways at once between daemons that each hold their frames 25 ms, whose pings take at least 50 ms", async () => {
    const [a, b] = await friends("delay", { PILOT_TEST_DELAY_MS: "25" });
    const rtts = ((await a.run("ping", String(b.nodeId), "--count", "3"))["results"] as { rtt_ms: number }[]).map((r) => r.rtt_ms);
    expect(rtts).toHaveLength(3);
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(50);
    const r = await exchange(a, b, 8 * MiB);
    expect(r.readByB).toEqual({ hash: r.expectB, bytes: 8 * MiB });
    expect(r.readByA).toEqual({ hash: r.expectA, bytes: 8 * MiB });
  }, SLOW_TEST_MS);

  it("grows the receive window and the send buffer past 4 MiB on a 50 ms path, and carries 64 MiB intact", async () => {
    const [a, b] = await friends("window", { PILOT_TEST_DELAY_MS: "25" });
    const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    const data = pattern(64 * MiB, 3);
    const port = nextPort++;
    let serve!: (conn: PilotConnection) => void;
    // B reads to the end, then ends its side: the connection closes, so watching ends either way.
    const read = new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
      serve = (conn) => void readAll(conn).then((r) => (conn.end(), resolve(r)), reject);
    });
    // Bound before dialing: a SYN that arrives first is refused.
    await pb.listen(port, (conn) => serve(conn));
    const conn = await pa.dial(b.nodeId, port);
    let [receiveBuffer, sendBuffer] = [0, 0];
    const watching = Promise.all([
      watch(b, a.nodeId, (c) => (receiveBuffer = Math.max(receiveBuffer, c.receive_buffer)) > 4 * MiB),
      watch(a, b.nodeId, (c) => (sendBuffer = Math.max(sendBuffer, c.send_buffer)) > 4 * MiB),
    ]);
    const [, , answer] = await Promise.all([writeAll(conn, data), read.then((r) => expect(r).toEqual({ hash: sha(data), bytes: 64 * MiB })), readAll(conn)]);
    expect(answer.bytes).toBe(0);
    await watching;
    pa.close();
    pb.close();
    // The receive buffer doubled at least once, and never past the 16 MiB it may reach; the send
    // buffer followed the largest window offered (the buffer less what was unread then).
    expect(receiveBuffer).toBeGreaterThanOrEqual(8 * MiB);
    expect(receiveBuffer).toBeLessThanOrEqual(16 * MiB);
    expect(sendBuffer).toBeGreaterThan(4 * MiB);
    expect(sendBuffer).toBeLessThanOrEqual(16 * MiB);
  }, SLOW_TEST_MS);

  for (const rate of ["0.05", "0.2"]) {
    it(`carries 64 MiB both ways at once through ${Number(rate) * 100} % packet loss, intact`, { timeout: 180_000 }, async () => {
      const [a, b] = await friends(`loss${rate}`, { PILOT_TEST_DROP_RATE: rate });
      let retransmits = 0;
      const r = await exchange(a, b, 64 * MiB, {
        onWhile: () => watch(a, b.nodeId, (c) => (retransmits = Math.max(retransmits, c.retransmits)) > 0),
      });
      expect(r.readByB).toEqual({ hash: r.expectB, bytes: 64 * MiB });
      expect(r.readByA).toEqual({ hash: r.expectA, bytes: 64 * MiB });
      // The loss was real: A had to send segments again.
      expect(retransmits).toBeGreaterThan(0);
    });
  }

  it("keeps what a slow reader has not read within the receive window, and delivers it all", async () => {
    const [a, b] = await friends("slow");
    let maxUnread = 0;
    // Unread bytes beyond the receive buffer as B listed it then (auto-tuning may have grown it,
    // on a machine so busy that even loopback's round trip is long).
    let beyondBuffer = -Infinity;
    let windowClosed = false;
    let samples = 0;
    const r = await exchange(a, b, 64 * MiB, {
      pauseMs: 25,
      onWhile: () =>
        watch(b, a.nodeId, (c) => {
          maxUnread = Math.max(maxUnread, c.unread);
          beyondBuffer = Math.max(beyondBuffer, c.unread - c.receive_buffer);
          if (c.receive_window < MiB) windowClosed = true;
          return ++samples >= 20 && windowClosed;
        }),
    });
    expect(r.readByB).toEqual({ hash: r.expectB, bytes: 64 * MiB });
    expect(r.readByA).toEqual({ hash: r.expectA, bytes: 64 * MiB });
    // The reader set the pace: the window closed, the sender was held back, and B never held
    // more unread bytes than its receive buffer (4 MiB, or what auto-tuning grew it to).
    expect(windowClosed).toBe(true);
    expect(r.written.waits).toBeGreaterThan(0);
    expect(maxUnread).toBeGreaterThan(0);
    expect(beyondBuffer).toBeLessThanOrEqual(0);
  }, SLOW_TEST_MS);
});

describe("who may connect", () => {
  it("refuses a stranger without a word, accepts it after trust, and cuts it off mid-transfer on revocation", async () => {
    const b = await cluster.daemon("gate-b");
    const c = await cluster.daemon("gate-c");
    const [pb, pc] = [await Pilot.connect(b.home), await Pilot.connect(c.home)];
    const port = nextPort++;
    const accepted: PilotConnection[] = [];
    const server = await pb.listen(port, (conn) => accepted.push(conn));

    // The registry will not tell a stranger where B is…
    await expect(pc.dial(b.nodeId, port)).rejects.toMatchObject({ code: "not_found" });
    // …and a client with C's key that knows B's endpoint and key anyway draws no answer at all.
    const bKey = Buffer.from(String((await b.run("info"))["public_key"]), "base64");
    const bEndpoint = await b.endpoint();
    const rogue = new Tunnels({
      identity: Identity.fromSeed(c.identitySeed()),
      me: () => c.nodeId,
      allowed: () => true,
      lookup: async () => ({ nodeId: b.nodeId, publicKey: bKey, endpoints: [bEndpoint] }),
      requestPath: async () => ({ nodeId: b.nodeId, publicKey: bKey, endpoints: [bEndpoint] }),
      onDatagram: () => undefined,
    });
    await rogue.bind("127.0.0.1", 0);
    const droppedBefore = (await b.run("info"))["packets"]["dropped"] as number;
    await expect(rogue.open(b.nodeId)).rejects.toMatchObject({ code: "no_path" });
    rogue.close();
    expect(rogue.stats.received).toBe(0);
    expect((await b.run("info"))["packets"]["dropped"]).toBeGreaterThan(droppedBefore);
    expect(accepted).toEqual([]);

    // After a handshake, C connects.
    await befriend(c, b, "streams test");
    const conn = await pc.dial(b.nodeId, port);
    await waitFor(() => accepted.length === 1, "B's program to accept the connection");
    const far = accepted[0]!;
    expect(far.remote).toEqual({ nodeId: c.nodeId, address: expect.stringMatching(/^0:0000\./), port: conn.localPort });
    const { cut, writing } = keepWriting(conn, far, 256 * 1024);
    await waitFor(() => cut.received > 16 * MiB, "16 MiB to arrive");

    // B revokes the trust mid-transfer: both ends fail with peer_cut_off, and delivery stops.
    await b.run("untrust", String(c.nodeId));
    await waitFor(() => cut.far !== undefined && cut.near !== undefined, "both ends to fail");
    expect(cut.far).toMatchObject({ code: "peer_cut_off" });
    expect(cut.near).toMatchObject({ code: "peer_cut_off" });
    await writing;
    expect((await pb.connections()).filter((x) => x.node_id === c.nodeId)).toEqual([]);
    await expect(pc.dial(b.nodeId, port)).rejects.toMatchObject({ code: "not_found" });
    // Through all of that, nothing more reached B's program after it heard of the cut.
    expect(cut.received).toBe(cut.receivedAtCut);
    server.close();
    pb.close();
    pc.close();
  }, SLOW_TEST_MS);
});

describe("who may connect, continued", () => {
  it("ends a stranger's connection to a public node when the node goes private", async () => {
    const b = await cluster.daemon("pub-b", "--public");
    // Public too: a private node delivers nothing from a peer it does not allow, the answers of a
    // public node it dialled included.
    const c = await cluster.daemon("pub-c", "--public");
    const [pb, pc] = [await Pilot.connect(b.home), await Pilot.connect(c.home)];
    const port = nextPort++;
    const accepted: PilotConnection[] = [];
    const server = await pb.listen(port, (conn) => accepted.push(conn));
    const conn = await pc.dial(b.nodeId, port);
    await waitFor(() => accepted.length === 1, "B's program to accept the connection");
    const failed = new Promise<{ code: string }>((resolve) => accepted[0]!.on("error", (e) => resolve(e as never)));
    conn.on("error", () => undefined);
    await b.run("set-private");
    expect(await failed).toMatchObject({ code: "peer_cut_off" });
    expect((await pb.connections()).filter((x) => x.node_id === c.nodeId)).toEqual([]);
    server.close();
    pb.close();
    pc.close();
  }, SLOW_TEST_MS);

  it("the local socket refuses bad stream requests, and the daemon carries on", async () => {
    const [a, b] = await friends("sock");
    /**
     * Sends frames on a fresh connection to A's socket, each once the daemon has answered the one
     * before; resolves with all it got back once that holds `expected`, or once the socket closes.
     */
    const talk = (expected: string, ...frames: Buffer[]) =>
      within(
        `${expected} from A's socket`,
        new Promise<string>((resolve) => {
          const s = connect(join(a.home, "pilot.sock"));
          const chunks: Buffer[] = [];
          const got = () => Buffer.concat(chunks).toString("latin1");
          const finish = () => {
            s.destroy();
            resolve(got());
          };
          let sent = 0;
          const next = () => void (sent < frames.length && s.write(frames[sent++]!));
          s.on("data", (c) => {
            chunks.push(c);
            if (got().includes(expected)) finish();
            else next();
          });
          s.on("close", finish);
          next();
        }),
      );
    const dial = (args: Record<string, unknown>, id = 1) => encodeFrame({ id, cmd: "dial", args });
    const refused = async (code: string, ...frames: Buffer[]) => expect(await talk(`"code":"${code}"`, ...frames)).toContain(`"code":"${code}"`);
    await refused("not_found", encodeFrame({ id: 1, cmd: "accept", args: { conn_id: 5, key: "0".repeat(32) } }));
    await refused("invalid_argument", dial({ target: String(b.nodeId), port: 0 }));
    await refused("invalid_request", encodeFrame({ id: 1, cmd: "info", args: {} }), dial({ target: String(b.nodeId), port: 7 }, 2));
    // A read report for bytes never sent is a protocol error: the stream is reset.
    await refused("invalid_frame", dial({ target: String(b.nodeId), port: 7 }), binaryHeader(3, 1000));
    // Still serving.
    const r = await exchange(a, b, MiB);
    expect(r.readByB).toEqual({ hash: r.expectB, bytes: MiB });
  }, SLOW_TEST_MS);
});

describe("restarts", () => {
  /** A connection from A's program to B's, with A writing a little every 20 ms (unless paused) and both sides' errors recorded. */
  async function liveConnection(a: Daemon, b: Daemon) {
    const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    const port = nextPort++;
    const accepted: PilotConnection[] = [];
    await pb.listen(port, (conn) => accepted.push(conn));
    const conn = await pa.dial(b.nodeId, port);
    await waitFor(() => accepted.length === 1, "B's program to accept the connection");
    const errors: { a?: { code: string }; b?: { code: string } } = {};
    let received = 0;
    accepted[0]!.on("error", (e) => (errors.b = e as never));
    accepted[0]!.on("data", (d: Buffer) => (received += d.length));
    conn.on("error", (e) => (errors.a = e as never));
    let paused = false;
    const writing = (async () => {
      while (!conn.destroyed) {
        if (!paused) conn.write(Buffer.alloc(16 * 1024, 1));
        await sleep(20);
      }
    })();
    await waitFor(() => received > 0, "data to reach B's program");
    return {
      errors,
      /** Stops A writing; resolves once B has acknowledged all that A wrote. */
      async pause() {
        paused = true;
        const settled = async () => conn.writableLength === 0 && (await pa.connections()).every((c) => c.node_id !== b.nodeId || (c.unacked === 0 && c.send_buffered === 0));
        await waitFor(settled, "B to acknowledge all that A wrote");
      },
      resume: () => void (paused = false),
      async close() {
        await writing;
        pa.close();
        pb.close();
      },
    };
  }

  it("a daemon that stops resets its connections, and the peer hears it at once", async () => {
    const [a, b] = await friends("stop");
    const live = await liveConnection(a, b);
    await b.stop();
    // connection_reset, not timeout, is what B's RST brings: without it A would only time out, much later.
    await waitFor(() => live.errors.a !== undefined && live.errors.b !== undefined, "both ends to fail");
    expect(live.errors.a).toMatchObject({ code: "connection_reset" });
    expect(live.errors.b).toMatchObject({ code: "not_running" });
    await live.close();
  }, SLOW_TEST_MS);

  it("a peer's daemon that crashed and restarted fails the connection instead of leaving it hanging", async () => {
    const [a, b] = await friends("crash");
    const live = await liveConnection(a, b);
    // Nothing of A's is in flight when B dies, so A's retransmissions start only when it writes
    // again, once B is back: a slow restart cannot use up A's retries (a minute at least) first.
    await live.pause();
    // No goodbye: the process is killed outright.
    process.kill(Number(readFileSync(join(b.home, "pilot.pid"), "utf8")), "SIGKILL");
    await waitFor(() => live.errors.b !== undefined, "B's program to hear its daemon is gone");
    expect(live.errors.b).toMatchObject({ code: "connection_reset" });
    await b.start();
    // A's segments, sealed with keys the new process never had, time out; the timeout refreshes
    // the tunnel, which reaches the new process, and it knows no such connection: it answers with a RST.
    live.resume();
    await waitFor(() => live.errors.a !== undefined, "A's connection to fail", 60_000);
    expect(live.errors.a).toMatchObject({ code: "connection_reset" });
    await live.close();
  }, SLOW_TEST_MS);
});

describe("floods", () => {
  it("of connections, half-open connections and bad frames leave the daemon serving its trusted peers", async () => {
    const [a, b] = await friends("flood");
    const [d, e] = [await cluster.daemon("flood-d"), await cluster.daemon("flood-e")];
    await befriend(d, b, "streams test");
    await befriend(e, b, "streams test");
    const pb = await Pilot.connect(b.home);
    const port = nextPort++;
    const accepted: PilotConnection[] = [];
    const server = await pb.listen(port, (conn) => {
      accepted.push(conn);
      conn.on("error", () => undefined);
    });

    // A connection flood from A's daemon: past 256 connections from one peer, B refuses.
    const pa = await Pilot.connect(a.home);
    const outcomes: PromiseSettledResult<PilotConnection>[] = [];
    for (let batch = 0; batch < 15; batch++) outcomes.push(...(await Promise.allSettled(Array.from({ length: 20 }, () => pa.dial(b.nodeId, port)))));
    const opened = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as { code: string }] : []));
    expect(opened.length).toBe(256);
    expect(refused.length).toBe(44);
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(["connection_refused"]));

    // A half-open flood with E's key: SYNs that never complete. B keeps 32 and drops the rest.
    const rogue = await impersonate(cluster.registry.url, e);
    await rogue.open(b.nodeId);
    const syn = (srcPort: number, dstPort: number, payload: Buffer[]) =>
      rogue.send(b.nodeId, { flags: FLAG.syn, protocol: PROTOCOL.stream, srcPort, dstPort, seq: srcPort * 7919, ack: 0, window: 64, payload });
    for (let i = 0; i < 400; i++) syn(10_000 + i, port, [sackHeader([]), Buffer.alloc(0)]);
    // And malformed stream packets: too many SACK blocks, blocks cut short, port 0.
    syn(20_001, port, [Buffer.from([200])]);
    syn(20_002, port, [Buffer.from([2, 0, 0, 0])]);
    syn(20_003, 0, [sackHeader([]), Buffer.alloc(0)]);
    // B answers a ping sent after them through the same tunnel only once it has handled them all.
    await rogue.ping(b.nodeId, 20_000);
    const fromE = (await pb.connections()).filter((c) => c.node_id === e.nodeId);
    expect(fromE.length).toBe(32);
    expect(fromE.every((c) => c.state === "SYN_RECV")).toBe(true);

    // Garbage on a program's stream socket: an unknown frame kind, then an oversized error frame.
    for (const bad of [binaryHeader(9, 0), binaryHeader(2, 5000)]) {
      const reply = await new Promise<Buffer>((resolve) => {
        const s = connect(join(b.home, "pilot.sock"));
        const chunks: Buffer[] = [];
        s.on("data", (c) => chunks.push(c));
        s.on("close", () => resolve(Buffer.concat(chunks)));
        s.write(encodeFrame({ id: 1, cmd: "dial", args: { target: String(d.nodeId), port: 7 } }));
        // Once the dial is answered, the socket carries stream frames.
        s.once("data", () => s.write(bad));
      });
      expect(reply.toString()).toContain('"ok":true');
      expect(reply.toString()).toContain('"code":"invalid_frame"');
    }

    // Through all of it, B still serves D: 8 MiB both ways, intact.
    const r = await exchange(d, b, 8 * MiB);
    expect(r.readByB).toEqual({ hash: r.expectB, bytes: 8 * MiB });
    expect(r.readByA).toEqual({ hash: r.expectA, bytes: 8 * MiB });

    rogue.close();
    for (const c of opened) c.destroy();
    server.close();
    pa.close();
    pb.close();
  }, SLOW_TEST_MS);
});
