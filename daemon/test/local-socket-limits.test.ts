/**
 * What a program that does not read, or sends faster than the daemon answers, holds the daemon to
 * on its local socket: measured in bytes and counts on the daemon's side of the connection. An
 * in-process daemon with a real local registry, and connections opened by hand as a stranger would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PilotDaemon } from "../src/agent/pilot-daemon.ts";
import { Identity } from "../src/identity.ts";
import { MAX_REQUESTS_IN_FLIGHT, MAX_SENDS_IN_FLIGHT, MAX_UNREAD, MAX_UNREAD_DATAGRAMS } from "../src/ipc/limits.ts";
import { startIpcServer } from "../src/ipc/server.ts";
import { DatagramFrameReader, sendFrame } from "../src/local-socket/datagram-frames.ts";
import { encodeFrame, FrameReader } from "../src/local-socket/frames.ts";
import { Config } from "../src/store/config-file.ts";
import { ensureHome, homePaths } from "../src/store/home.ts";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";
import { waitFor } from "./wait.ts";

let registry: LocalRegistry;
let daemon: PilotDaemon;
let server: Server;
let home: string;
/** The daemon's side of each connection, in the order they came. */
const accepted: Socket[] = [];

beforeAll(async () => {
  registry = await startLocalRegistry();
  home = mkdtempSync(join(tmpdir(), "pilot-limits-"));
  const paths = homePaths(home);
  ensureHome(home);
  daemon = new PilotDaemon({ identity: Identity.generate(), config: Config.parse({ stun: "off", listen: "127.0.0.1:0" }), registry: registry.url, paths });
  await daemon.start();
  server = await startIpcServer(daemon, paths.socket, () => undefined);
  server.on("connection", (s: Socket) => accepted.push(s));
});
afterAll(async () => {
  await daemon?.stop();
  server?.close();
  rmSync(home, { recursive: true, force: true });
  await registry?.close();
});

/** A connection to the daemon's socket, and the daemon's side of it. */
async function open(): Promise<{ client: Socket; daemonSide: Socket }> {
  const before = accepted.length;
  const client = connect(join(home, "pilot.sock"));
  await waitFor(() => accepted.length > before, "the daemon to accept the connection");
  return { client, daemonSide: accepted[before]! };
}

/** Reads JSON frames from `client` until `until` holds of those read so far. */
function readFrames(client: Socket, until: (frames: unknown[]) => boolean): Promise<unknown[]> {
  const reader = new FrameReader();
  const frames: unknown[] = [];
  return new Promise((resolve) => {
    const check = () => {
      if (!until(frames)) return false;
      client.off("data", onData);
      resolve(frames);
      return true;
    };
    const onData = (chunk: Buffer) => {
      frames.push(...reader.push(chunk));
      check();
    };
    if (!check()) client.on("data", onData);
  });
}

/** A hand-opened datagram connection, its reply read and nothing more. */
async function datagramConnection(args: object) {
  const { client, daemonSide } = await open();
  client.write(encodeFrame({ id: 1, cmd: "datagrams", args }));
  await readFrames(client, (f) => f.length === 1);
  client.pause();
  return { client, daemonSide };
}

const droppedBy = () => daemon.info().packets.dropped;

describe("a program that does not read", () => {
  it("has no more of its requests read once its replies pass the limit, and gets every reply once it reads", async () => {
    const { client, daemonSide } = await open();
    client.pause();
    const requests = 50_000;
    // Each reply (unknown command) is several times the size of its request.
    const request = encodeFrame({ id: 1, cmd: "x", args: {} });
    client.write(Buffer.concat(Array.from({ length: requests }, () => request)));
    await waitFor(() => daemonSide.isPaused() || daemonSide.writableLength > 4 * MAX_UNREAD, "the daemon to stop reading, or to hold 4 MiB of replies");
    // Past the limit by at most the replies to the rest of the chunk being read.
    expect(daemonSide.writableLength).toBeLessThan(2 * MAX_UNREAD);
    client.resume();
    const replies = await readFrames(client, (f) => f.length === requests);
    expect(replies.every((r) => (r as { error?: { code: string } }).error?.code === "invalid_argument")).toBe(true);
    client.destroy();
  });

  it("has the datagrams arriving for it dropped and counted once it holds the limit unread, and gets the next one after it reads", async () => {
    const { client, daemonSide } = await datagramConnection({ port: 3000 });
    const dropped = droppedBy();
    const arriving = 400;
    const payload = Buffer.alloc(50_000, 1);
    for (let i = 0; i < arriving; i++) daemon.datagrams.receive({ from: 4242, srcPort: 1, dstPort: 3000, payload });
    // The program has the datagram bound's slack, four times a request connection's, and no more.
    expect(daemonSide.writableLength).toBeGreaterThan(MAX_UNREAD_DATAGRAMS);
    expect(daemonSide.writableLength).toBeLessThan(MAX_UNREAD_DATAGRAMS + 2 * payload.length);
    expect(droppedBy() - dropped).toBeGreaterThan(arriving / 2);

    // Once it reads, what was held comes, and then a datagram arriving afresh.
    let bytes = 0;
    let marked = false;
    const reader = new DatagramFrameReader({
      send: () => undefined,
      sent: () => undefined,
      error: () => undefined,
      datagram: (d) => {
        bytes += d.payload.length;
        marked ||= d.payload.toString() === "marker";
      },
    });
    client.on("data", (chunk: Buffer) => reader.push(chunk));
    client.resume();
    await waitFor(() => daemonSide.writableLength === 0, "what was held to be read");
    daemon.datagrams.receive({ from: 4242, srcPort: 1, dstPort: 3000, payload: Buffer.from("marker") });
    await waitFor(() => marked, "the datagram sent after it read");
    expect(bytes).toBeLessThan(MAX_UNREAD_DATAGRAMS + 2 * payload.length + 1024);
    client.destroy();
  });

  it("has its datagram sends read on while the datagrams it holds unread are within their bound", async () => {
    const send = vi.spyOn(daemon.datagrams, "send").mockResolvedValue(undefined);
    try {
      const { client, daemonSide } = await datagramConnection({ port: 3001 });
      const payload = Buffer.alloc(50_000, 1);
      // Three times a request connection's bound of arriving datagrams, unread, and none dropped.
      // (The kernel takes the first part of what is written, so the daemon's side holds the rest.)
      const dropped = droppedBy();
      for (let i = 0; i < Math.ceil((3 * MAX_UNREAD) / payload.length); i++) daemon.datagrams.receive({ from: 4242, srcPort: 1, dstPort: 3001, payload });
      expect(droppedBy()).toBe(dropped);
      expect(daemonSide.writableLength).toBeGreaterThan(MAX_UNREAD);
      // Each send is read, and reading goes on after it: a send is what makes the daemon look at the bound.
      for (const ref of [1, 2]) {
        client.write(sendFrame({ ref, target: "4242", port: 7, srcPort: 0, payload: Buffer.from("x") }));
        await waitFor(() => send.mock.calls.length === ref, `send ${ref} to be read`);
      }
      expect(daemonSide.isPaused()).toBe(false);
      client.destroy();
    } finally {
      send.mockRestore();
    }
  });

  it("has its event stream closed with too_slow once it holds the limit unread, and is unsubscribed", async () => {
    const { client, daemonSide } = await open();
    const listeners = daemon.events.listenerCount("event");
    client.write(encodeFrame({ id: 1, cmd: "subscribe", args: {} }));
    await readFrames(client, (f) => f.length === 1);
    client.pause();
    expect(daemon.events.listenerCount("event")).toBe(listeners + 1);
    const event = { type: "peer_cut_off", node_id: 4242, reason: "x".repeat(1000) };
    for (let i = 0; i < 5000; i++) daemon.events.emit("event", event);
    expect(daemonSide.writableLength).toBeLessThan(MAX_UNREAD + 4096);
    expect(daemon.events.listenerCount("event")).toBe(listeners);
    client.resume();
    const frames = await readFrames(client, (f) => f.some((frame) => (frame as { error?: unknown }).error !== undefined));
    expect(frames.at(-1)).toMatchObject({ id: null, ok: false, error: { code: "too_slow" } });
    client.destroy();
  });
});

describe("a program that sends faster than its sends settle", () => {
  it("has at most MAX_REQUESTS_IN_FLIGHT requests under way at once, those sent together included, and every one answered", async () => {
    const settle: (() => void)[] = [];
    let most = 0;
    const resolveName = vi.spyOn(daemon, "resolveName").mockImplementation(
      () =>
        new Promise((_, reject) => {
          settle.push(() => reject(new Error("scripted")));
          most = Math.max(most, settle.length);
        }),
    );
    try {
      const { client } = await open();
      const requests = 1000;
      // Every request in one write, so the daemon has them all at once.
      client.write(Buffer.concat(Array.from({ length: requests }, (_, i) => encodeFrame({ id: i + 1, cmd: "find", args: { hostname: `name-${i}` } }))));
      let answered = 0;
      const reader = new FrameReader();
      client.on("data", (chunk: Buffer) => (answered += reader.push(chunk).length));
      await waitFor(() => {
        settle.splice(0).forEach((f) => f());
        return answered === requests;
      }, "every request to be answered");
      expect(most).toBeLessThanOrEqual(MAX_REQUESTS_IN_FLIGHT);
      expect(resolveName).toHaveBeenCalledTimes(requests);
      client.destroy();
    } finally {
      resolveName.mockRestore();
    }
  });

  it("reads on once it reads its replies, though its requests were held back for being too many when they passed the limit", async () => {
    const settle: (() => void)[] = [];
    const resolveName = vi.spyOn(daemon, "resolveName").mockImplementation(
      () =>
        new Promise((_, reject) => {
          settle.push(() => reject(new Error("scripted")));
        }),
    );
    try {
      const { client, daemonSide } = await open();
      client.pause();
      // Unread answers to bad requests, until the daemon holds just under the limit.
      let id = 0;
      while (daemonSide.writableLength < MAX_UNREAD - 4096) {
        client.write(Buffer.concat(Array.from({ length: 8 }, () => encodeFrame({ id: ++id, cmd: "no-such-command", args: {} }))));
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(daemonSide.writableLength).toBeLessThanOrEqual(MAX_UNREAD);
      // As many lookups as may be under way, and one request after them, held back.
      client.write(Buffer.concat(Array.from({ length: MAX_REQUESTS_IN_FLIGHT }, (_, i) => encodeFrame({ id: ++id, cmd: "find", args: { hostname: `held-${i}` } }))));
      const last = ++id;
      client.write(encodeFrame({ id: last, cmd: "info", args: {} }));
      await waitFor(() => settle.length === MAX_REQUESTS_IN_FLIGHT, "the lookups to be under way");
      // Their answers take the daemon past the limit while it is held back by their number.
      settle.splice(0).forEach((f) => f());
      await waitFor(() => daemonSide.writableLength > MAX_UNREAD, "the answers to pass the limit");
      const frames = readFrames(client, (f) => f.some((x) => (x as { id?: number }).id === last));
      client.resume();
      expect((await frames).length).toBe(last);
      client.destroy();
    } finally {
      resolveName.mockRestore();
    }
  });

  it("has at most MAX_SENDS_IN_FLIGHT datagram sends under way at once, and every send answered", async () => {
    const settle: (() => void)[] = [];
    let most = 0;
    const send = vi.spyOn(daemon.datagrams, "send").mockImplementation(
      () =>
        new Promise<void>((resolve) => {
          settle.push(resolve);
          most = Math.max(most, settle.length);
        }),
    );
    try {
      const { client } = await datagramConnection({});
      const sends = 1000;
      let answered = 0;
      const reader = new DatagramFrameReader({ send: () => undefined, sent: () => answered++, error: () => answered++, datagram: () => undefined });
      client.on("data", (chunk: Buffer) => reader.push(chunk));
      client.resume();
      client.write(Buffer.concat(Array.from({ length: sends }, (_, i) => sendFrame({ ref: i + 1, target: "4242", port: 7, srcPort: 0, payload: Buffer.from("x") }))));
      await waitFor(() => {
        settle.splice(0).forEach((f) => f());
        return answered === sends;
      }, "every send to be answered");
      expect(most).toBeLessThanOrEqual(MAX_SENDS_IN_FLIGHT);
      expect(send).toHaveBeenCalledTimes(sends);
      client.destroy();
    } finally {
      send.mockRestore();
    }
  });
});
