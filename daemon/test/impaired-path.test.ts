/**
 * The delaying test hook on its own, with the clock and timers faked: every frame waits its delay
 * and no less, frames keep their order, and a crowd of them shares one timer.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { delayedPath, type SendFrame } from "../src/dataplane/tunnel/impaired-path.ts";
import type { Path } from "../src/dataplane/tunnel/path.ts";

const to: Path = { kind: "direct", endpoint: { address: "192.0.2.1", port: 9 } };

describe("a delayed path", () => {
  let sent: number[];
  let live: boolean;
  let delay: number;
  let send: SendFrame;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    sent = [];
    live = true;
    delay = 25;
    send = delayedPath((frame) => void sent.push((frame as Buffer).readUInt32BE(0)), () => delay, () => live);
  });
  afterEach(() => vi.useRealTimers());

  const frame = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    send(b, to, 7);
  };

  it("holds every frame for the delay, then sends them in order, all behind one timer", () => {
    for (let i = 0; i < 10_000; i++) frame(i);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(24);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sends frames queued at different times each at its own time", () => {
    frame(1);
    vi.advanceTimersByTime(10);
    frame(2);
    vi.advanceTimersByTime(15);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(9);
    expect(sent).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([1, 2]);
  });

  it("with no delay sends at once, but never ahead of frames still waiting", () => {
    frame(1);
    delay = 0;
    frame(2);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(25);
    expect(sent).toEqual([1, 2]);
    frame(3);
    expect(sent).toEqual([1, 2, 3]);
  });

  it("drops what is waiting once the path is closed", () => {
    frame(1);
    live = false;
    vi.advanceTimersByTime(25);
    expect(sent).toEqual([]);
  });
});
