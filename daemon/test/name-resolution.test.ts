/**
 * A node named by hostname is resolved once on first contact: the daemon hands the registry's
 * answer to the tunnel layer instead of asking again to open the tunnel. In-process daemons, a
 * real local registry, and programs talking to the daemon over its local socket through the SDK.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PilotDaemon } from "../src/agent/pilot-daemon.ts";
import { Identity } from "../src/identity.ts";
import { startIpcServer } from "../src/ipc/server.ts";
import { Pilot } from "../src/sdk/pilot.ts";
import { Config } from "../src/store/config-file.ts";
import { ensureHome, homePaths } from "../src/store/home.ts";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";
import { waitFor } from "./wait.ts";

let registry: LocalRegistry;
const running: { daemon: PilotDaemon; server: Server; home: string }[] = [];

beforeAll(async () => {
  registry = await startLocalRegistry();
});
afterAll(async () => {
  for (const { daemon, server, home } of running.splice(0)) {
    await daemon.stop();
    server.close();
    rmSync(home, { recursive: true, force: true });
  }
  await registry?.close();
});

/** A public daemon with a hostname, running in this process, and what it has asked the registry to resolve since it started. */
async function agent(hostname: string): Promise<{ daemon: PilotDaemon; home: string; resolved: () => unknown[] }> {
  const home = mkdtempSync(join(tmpdir(), `pilot-${hostname}-`));
  const paths = homePaths(home);
  ensureHome(home);
  const config = Config.parse({ stun: "off", listen: "127.0.0.1:0", hostname, public: true });
  const daemon = new PilotDaemon({ identity: Identity.generate(), config, registry: registry.url, paths });
  await daemon.start();
  running.push({ daemon, server: await startIpcServer(daemon, paths.socket, () => undefined), home });
  const resolve = vi.spyOn(daemon.registry, "resolve");
  return { daemon, home, resolved: () => resolve.mock.calls.map(([target]) => target) };
}

describe("a node named by hostname", () => {
  it("is resolved once on first contact, by datagram or by stream; the node contacted takes the sender's key from its certificate and resolves nothing", async () => {
    const a = await agent("names-alpha");
    const b = await agent("names-bravo");
    const c = await agent("names-charlie");
    const pilotA = await Pilot.connect(a.home);
    const pilotB = await Pilot.connect(b.home);
    try {
      const got: string[] = [];
      await pilotB.receiveDatagrams(1001, (d) => got.push(d.data.toString()));
      await pilotA.sendDatagram("names-bravo", 1001, "by name");
      await waitFor(() => got.length === 1, "the datagram to arrive");
      expect(a.resolved()).toEqual(["names-bravo"]);
      expect(b.resolved()).toEqual([]);

      // A stream to C's echo port, by name: again one resolve on A's side.
      const conn = await pilotA.dial("names-charlie", 7);
      conn.end("echo");
      let echoed = "";
      for await (const chunk of conn) echoed += String(chunk);
      expect(echoed).toBe("echo");
      expect(a.resolved()).toEqual(["names-bravo", "names-charlie"]);
      expect(c.resolved()).toEqual([]);
    } finally {
      pilotA.close();
      pilotB.close();
    }
  });

  it("is looked up once for sends that ask at the same time, and afresh for a send after the answer came", async () => {
    const a = await agent("names-delta");
    const b = await agent("names-echo");
    const pilotA = await Pilot.connect(a.home);
    try {
      const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => pilotA.sendDatagram("names-echo", 1002, `at once ${i}`)));
      expect(sent.every((s) => s.nodeId === b.daemon.nodeId)).toBe(true);
      const together = a.resolved().length;
      expect(together).toBeGreaterThanOrEqual(1);
      expect(together).toBeLessThanOrEqual(5);
      // Nothing is kept once the answer came: a change of visibility shows in the next lookup.
      await pilotA.sendDatagram("names-echo", 1002, "later");
      expect(a.resolved()).toHaveLength(together + 1);
    } finally {
      pilotA.close();
    }
  });
});
