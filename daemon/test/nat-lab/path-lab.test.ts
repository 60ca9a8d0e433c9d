/**
 * The path lab itself: its veth has the MTU it was given, and a new one while it runs; a datagram
 * that fits one packet crosses and one a byte larger is lost, its fragments dropped and counted;
 * daemons in A and B reach each other across the veth; and a stream across it does not set off
 * full garbage collections in them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pilot } from "../../src/sdk/pilot.ts";
import { PATH, PathLab } from "./path-lab.ts";
import type { UdpPeer } from "./udp-peer-driver.ts";
import type { Daemon } from "../e2e/cluster.ts";
import { MiB } from "../e2e/transfer.ts";
import { stream } from "./scenario-kit.ts";
import { befriend, waitFor } from "../wait.ts";

const unavailable = await PathLab.unavailable();
if (unavailable) console.warn(`path lab skipped: ${unavailable}`);

const TEST_MS = 120_000;
/** The largest UDP payload one 1500-byte IPv4 packet holds: 1500 − 20 (IP) − 8 (UDP). */
const FITS_1500 = 1472;

describe.skipIf(unavailable !== undefined)("the path lab", () => {
  let lab: PathLab;
  let pa: UdpPeer;
  let pb: UdpPeer;

  beforeAll(async () => {
    lab = await PathLab.create();
    [pa, pb] = [await lab.a.udp(), await lab.b.udp()];
  }, 240_000);
  afterAll(async () => {
    await Promise.all([pa, pb].map((p) => p?.stop()));
    await lab?.close();
  }, 120_000);

  /** Sends `size` bytes of `fill` from A to B's program; resolves once B has it. */
  async function crosses(size: number, fill: string): Promise<void> {
    const data = fill.repeat(size);
    await pa.send(`${PATH.b}:${pb.port}`, data);
    await pb.waitForReceived((r) => r.data === data, `${size} bytes of "${fill}" to reach B`);
  }

  it("has the MTU it was made with at both ends, as ip reports it, and takes a new one while it runs", async () => {
    expect(await lab.mtu()).toEqual({ a: 1500, b: 1500 });
    await lab.setMtu(9000);
    expect(await lab.mtu()).toEqual({ a: 9000, b: 9000 });
    await lab.setMtu(1500);
    expect(await lab.mtu()).toEqual({ a: 1500, b: 1500 });
  }, TEST_MS);

  it("at MTU 1500 carries a 1472-byte UDP payload and loses a 1473-byte one, whose fragments it drops and counts", async () => {
    await crosses(FITS_1500, "a");
    const before = await lab.fragmentsDropped();
    const tooLarge = "b".repeat(FITS_1500 + 1);
    await pa.send(`${PATH.b}:${pb.port}`, tooLarge);
    // Both fragments reached B and were dropped there, so nothing of it is still on its way.
    await waitFor(async () => (await lab.fragmentsDropped()) - before >= 2, "B to drop both fragments");
    expect(pb.received().filter((r) => r.data === tooLarge)).toEqual([]);
  }, TEST_MS);

  it("puts a bottleneck on the way from A to B that drops what its queue cannot hold, and takes it away", async () => {
    // 0.1 Mbit/s drains a 1,400-byte datagram in 112 ms and queues at most 50 ms of them: a burst of
    // 100 sent back to back mostly finds the queue full.
    await lab.bottleneck({ mbit: 0.1, queueMs: 50 });
    const burst = "e".repeat(1400);
    try {
      await pa.send(`${PATH.b}:${pb.port}`, burst, { count: 100 });
      const dropped = await lab.bottleneckDrops();
      expect(dropped).toBeGreaterThan(50);
      // What was not dropped was queued, and arrives; the count allows for the odd neighbour
      // discovery packet the bottleneck may have dropped instead of a datagram.
      await waitFor(() => pb.received().filter((r) => r.data === burst).length >= 100 - dropped, `the ${100 - dropped} datagrams the bottleneck queued to reach B`);
    } finally {
      await lab.bottleneck(null);
    }
    await expect(lab.bottleneckDrops()).rejects.toThrow(/no bottleneck/);
    await crosses(FITS_1500, "d");
  }, TEST_MS);

  it("carries the 1473-byte payload in fragments when told to let them through, and whole at MTU 9000", async () => {
    await lab.dropFragments(false);
    try {
      await crosses(FITS_1500 + 1, "c");
    } finally {
      await lab.dropFragments(true);
    }
    await lab.setMtu(9000);
    try {
      const before = await lab.fragmentsDropped();
      await crosses(FITS_1500 + 1, "d");
      await crosses(9000 - 28, "e");
      expect(await lab.fragmentsDropped()).toBe(before);
    } finally {
      await lab.setMtu(1500);
    }
  }, TEST_MS);

  it("runs daemons in A and B that reach each other directly, across the veth", async () => {
    const [a, b] = [await lab.daemon("a", "path-a"), await lab.daemon("b", "path-b")];
    await befriend(a, b, "path lab test");
    const [sender, receiver] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    try {
      let received = 0;
      await receiver.receiveDatagrams(1000, (d) => (received += d.data.length));
      const crossed = await lab.crossed();
      const payload = Buffer.alloc(1000, 1);
      for (let i = 0; i < 200; i++) await sender.sendDatagram(b.nodeId, 1000, payload);
      await waitFor(() => received === 200 * payload.length, "B's program to receive 200 datagrams");
      // Every byte went across the veth: B's end counted at least the payloads coming in.
      expect((await lab.crossed()).aToB.bytes - crossed.aToB.bytes).toBeGreaterThan(200 * payload.length);
      const peer = ((await a.run("peers"))["peers"] as { node_id: number; path: string; endpoint: string }[]).find((p) => p.node_id === b.nodeId);
      expect(peer).toMatchObject({ path: "direct", endpoint: expect.stringMatching(new RegExp(`^${PATH.b.replaceAll(".", "\\.")}:`)) });
    } finally {
      sender.close();
      receiver.close();
    }
  }, TEST_MS);

  it("streams 256 MiB at MTU 1500 with at most two full garbage collections in each daemon", async () => {
    // Before the daemon tuned V8 (gc-tuning.ts), the sending daemon ran one for every 15 to 26 MiB it moved here.
    const [a, b] = [await lab.daemon("a", "gc-a"), await lab.daemon("b", "gc-b")];
    await befriend(a, b, "path lab GC test");
    const [sender, receiver] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    const memory = async (d: Daemon) => (await d.run("info"))["memory"] as { rss_bytes: number; heap_used_bytes: number; major_gcs: number; minor_gcs: number };
    try {
      const before = await Promise.all([memory(a), memory(b)]);
      await stream(sender, receiver, b.nodeId, 256 * MiB, 7);
      const after = await Promise.all([memory(a), memory(b)]);
      const seen = JSON.stringify({ before, after });
      for (const [i, m] of after.entries()) {
        expect(m.heap_used_bytes, seen).toBeGreaterThan(0);
        expect(m.rss_bytes, seen).toBeGreaterThan(m.heap_used_bytes);
        expect(m.major_gcs - before[i]!.major_gcs, seen).toBeLessThanOrEqual(2);
        // The count is live: the young generation was collected all along (about 20 times per 128 MiB).
        expect(m.minor_gcs - before[i]!.minor_gcs, seen).toBeGreaterThan(5);
      }
    } finally {
      sender.close();
      receiver.close();
    }
  }, TEST_MS);
});
