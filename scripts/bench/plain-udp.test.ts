import { describe, expect, it } from "vitest";
import { plainUdp } from "./plain-udp.ts";

describe("the plain UDP measure", () => {
  it("counts what two real processes moved, and the CPU each spent per GB of it", async () => {
    // 150 datagrams of 1,000 B fit even a receive buffer at Linux's default (208 KiB), however
    // slowly the receiver reads.
    const r = await plainUdp({ host: "127.0.0.1", size: 1_000, count: 150 });
    expect(r).toMatchObject({ payload_bytes: 1_000, count: 150, delivered: 100 });
    expect(r.mbps).toBeGreaterThan(0);
    // Each figure is a count of clock ticks over 150 kB: any whole number of them, even none.
    for (const spent of Object.values(r.cpu_s_per_gb!)) expect(spent).toBeGreaterThanOrEqual(0);
  }, 60_000);

  it("reports what was lost: a receiver that is never reached gets nothing, and no figure per GB of it", async () => {
    // 192.0.2.1 (TEST-NET-1) is routed nowhere from here, so every send leaves and none arrives.
    const r = await plainUdp({ host: "192.0.2.1", size: 100, count: 50 });
    expect(r).toMatchObject({ delivered: 0, mbps: 0, cpu_s_per_gb: null });
  }, 60_000);
});
