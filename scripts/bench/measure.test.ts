import { describe, expect, it } from "vitest";
import { IN_FLIGHT, keepInFlight } from "./measure.ts";

describe("keepInFlight, the windowed send loop of the unpaced measures", () => {
  it("never has more than IN_FLIGHT sends unsettled, starts every one in order, and ends when the last settles", async () => {
    const pending: (() => void)[] = [];
    const started: number[] = [];
    let most = 0;
    // Sends settle in batches, later, as a socket's callbacks do.
    const settler = setInterval(() => pending.splice(0, 100).forEach((settle) => settle()), 1);
    try {
      await keepInFlight(1_000, (i, settled) => {
        started.push(i);
        pending.push(settled);
        most = Math.max(most, pending.length);
      });
    } finally {
      clearInterval(settler);
    }
    expect(started).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(most).toBe(IN_FLIGHT);
    expect(pending).toHaveLength(0);
  });

  it("holds each send back as long as it is asked to (pacing)", async () => {
    const at: number[] = [];
    const begun = performance.now();
    await keepInFlight(
      5,
      (_, settled) => {
        at.push(performance.now() - begun);
        settled();
      },
      (i) => begun + i * 20 - performance.now(),
    );
    // Timers fire late on a busy machine, and early only by the event loop's clock, which may lag
    // performance.now() by a millisecond or so.
    for (let i = 0; i < 5; i++) expect(at[i]).toBeGreaterThanOrEqual(i * 20 - 2);
  });
});
