import { describe, expect, it } from "vitest";
import { plainUdp } from "./plain-udp.ts";

describe("the plain UDP measure", () => {
  it("counts what two real processes moved, and the CPU each spent per GB of it", async () => {
    // 2,000 datagrams of 1,000 B fit in the receiver's 4 MiB buffer however slowly it reads.
    const r = await plainUdp({ host: "127.0.0.1", size: 1_000, count: 2_000, port: 7391 });
    expect(r).toMatchObject({ payload_bytes: 1_000, count: 2_000, delivered: 100 });
    expect(r.mbps).toBeGreaterThan(0);
    for (const spent of Object.values(r.cpu_s_per_gb)) expect(spent).toBeGreaterThan(0);
  }, 60_000);

  it("reports what was lost: a receiver that is never reached gets nothing", async () => {
    // 192.0.2.1 (TEST-NET-1) is routed nowhere from here, so every send leaves and none arrives.
    const r = await plainUdp({ host: "192.0.2.1", size: 100, count: 50, port: 7392 });
    expect(r.delivered).toBe(0);
  }, 60_000);
});
