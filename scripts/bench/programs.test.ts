import { describe, expect, it } from "vitest";
import { CHUNK, isContentAt, streamContent } from "./programs.ts";

describe("the stream measure's content check", () => {
  const content = streamContent(4);
  const whole = Buffer.concat(Array.from({ length: content.chunks }, (_, i) => content.chunk(i)));

  it("accepts the content read in pieces of any size, across chunk boundaries", () => {
    for (const size of [1_418, 65_536, CHUNK - 1, CHUNK + 7]) {
      for (let offset = 0; offset < whole.length; offset += size) expect(isContentAt(whole.subarray(offset, offset + size), offset)).toBe(true);
    }
    for (let offset = 2 * CHUNK - 100; offset < 2 * CHUNK + 100; offset++) expect(isContentAt(whole.subarray(offset, offset + 1), offset)).toBe(true);
  });

  it("refuses one changed byte, a piece read at the wrong place, and chunks in the wrong order", () => {
    const changed = Buffer.from(whole.subarray(CHUNK - 10, CHUNK + 10));
    changed[12]! ^= 1;
    expect(isContentAt(changed, CHUNK - 10)).toBe(false);
    expect(isContentAt(whole.subarray(5_000, 6_000), 5_001)).toBe(false);
    expect(isContentAt(content.chunk(1), 0)).toBe(false);
    expect(isContentAt(content.chunk(0), CHUNK)).toBe(false);
  });
});
