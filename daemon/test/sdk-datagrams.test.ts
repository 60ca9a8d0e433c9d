/**
 * The SDK's datagram sends against a daemon's socket that goes away: a scripted socket server that
 * speaks the local socket's frames, so the test decides when a connection ends.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DatagramFrameReader, sentFrame } from "../src/local-socket/datagram-frames.ts";
import { encodeFrame, FrameReader } from "../src/local-socket/frames.ts";
import { Pilot } from "../src/sdk/pilot.ts";
import { ensureHome, homePaths } from "../src/store/home.ts";

const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

/** Answers `datagrams` with ok and every send with `sent` from node 42; `connections` lists the sockets it accepted. */
async function scriptedDaemon(): Promise<{ home: string; connections: Socket[]; sends: string[] }> {
  const home = mkdtempSync(join(tmpdir(), "pilot-sdk-"));
  ensureHome(home);
  const connections: Socket[] = [];
  const sends: string[] = [];
  const server: Server = createServer((socket) => {
    connections.push(socket);
    const requests = new FrameReader();
    const onRequest = (chunk: Buffer) => {
      requests.append(chunk);
      if (requests.next() === undefined) return;
      socket.off("data", onRequest);
      socket.write(encodeFrame({ id: 1, ok: true, data: {} }));
      const frames = new DatagramFrameReader({
        send: (s) => {
          sends.push(s.payload.toString());
          socket.write(sentFrame(s.ref, 42));
        },
        sent: () => undefined,
        error: () => undefined,
        datagram: () => undefined,
      });
      const rest = requests.rest();
      if (rest.length) frames.push(rest);
      socket.on("data", (c: Buffer) => frames.push(c));
    };
    socket.on("data", onRequest);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(homePaths(home).socket, resolve));
  cleanup.push(() => {
    server.close();
    connections.forEach((s) => s.destroy());
    rmSync(home, { recursive: true, force: true });
  });
  return { home, connections, sends };
}

describe("the SDK's datagram sends", () => {
  it("share one connection, and open another once it has ended instead of failing every later send", async () => {
    const daemon = await scriptedDaemon();
    const pilot = await Pilot.connect(daemon.home);
    cleanup.unshift(() => pilot.close());
    expect(await pilot.sendDatagram("agent-b", 1001, "one")).toEqual({ nodeId: 42, bytes: 3 });
    expect(await pilot.sendDatagram("agent-b", 1001, "two")).toEqual({ nodeId: 42, bytes: 3 });
    // The Pilot's own command connection, and the one datagram connection both sends shared.
    expect(daemon.connections).toHaveLength(2);

    const shared = daemon.connections[1]!;
    const ended = new Promise((resolve) => shared.once("close", resolve));
    shared.destroy();
    await ended;
    // A send racing the end may fail with it (the SDK may not have heard yet); the next goes through.
    const racing = await pilot.sendDatagram("agent-b", 1001, "racing").then(
      () => "sent",
      (e: { code?: string }) => e.code,
    );
    expect(["sent", "not_running"]).toContain(racing);
    expect(await pilot.sendDatagram("agent-b", 1001, "three")).toEqual({ nodeId: 42, bytes: 5 });
    expect(daemon.sends.at(-1)).toBe("three");
    expect(daemon.connections).toHaveLength(3);
  });

  it("fail at once with not_running after the Pilot is closed", async () => {
    const daemon = await scriptedDaemon();
    const pilot = await Pilot.connect(daemon.home);
    pilot.close();
    await expect(pilot.sendDatagram("agent-b", 1001, "late")).rejects.toMatchObject({ code: "not_running" });
    expect(daemon.sends).toEqual([]);
  });
});
