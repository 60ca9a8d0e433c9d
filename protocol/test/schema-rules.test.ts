import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { base64Bytes, decimalRange, decodeBase64, encodeBase64, JoinLinkLabel, Password, textOfLength } from "../src/index.ts";

describe("decimalRange", () => {
  const ranges: [number, number][] = [[0, 0], [1, 9], [0, 65535], [1, 65535], [1, 500], [1, 0xfffffffe], [60, 31_536_000], [7, 7], [10, 19], [99, 101]];

  it.each(ranges)("matches exactly the numbers from %i to %i, written without leading zeros", (min, max) => {
    const pattern = decimalRange(min, max);
    const near = fc.integer({ min: Math.max(0, min - 1000), max: max + 1000 });
    const anywhere = fc.integer({ min: 0, max: Math.max(max * 10, 100) });
    fc.assert(
      fc.property(fc.oneof(near, anywhere, fc.constantFrom(min, max, min - 1, max + 1)), (n) => {
        expect(pattern.test(String(n))).toBe(n >= min && n <= max);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses leading zeros, signs and other text", () => {
    const pattern = decimalRange(0, 65535);
    for (const text of ["00", "01", "+1", "-1", " 1", "1 ", "1.0", "1e3", "", "0x10", "065535"]) expect(pattern.test(text), text).toBe(false);
  });
});

describe("base64Bytes", () => {
  it.each([0, 1, 2, 3, 4, 31, 32, 33, 64])("matches exactly the canonical spelling of %i bytes", (length) => {
    const pattern = base64Bytes(length);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: length, maxLength: length }), (bytes) => {
        expect(pattern.test(encodeBase64(bytes))).toBe(true);
      }),
    );
    // Any text of the right alphabet and length matches if and only if it decodes canonically.
    const text = fc.stringMatching(/^[A-Za-z0-9+/=]*$/).map((s) => s.padEnd(Math.ceil(length / 3) * 4, "A").slice(0, Math.ceil(length / 3) * 4));
    fc.assert(
      fc.property(text, (s) => {
        expect(pattern.test(s)).toBe(decodeBase64(s, length) !== null);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses non-canonical padding bits and wrong lengths", () => {
    const key = encodeBase64(new Uint8Array(32).fill(7));
    expect(base64Bytes(32).test(key)).toBe(true);
    expect(base64Bytes(32).test(`${key.slice(0, 42)}${String.fromCharCode(key.charCodeAt(42) + 1)}=`)).toBe(false);
    expect(base64Bytes(32).test(key.slice(0, -1))).toBe(false);
    expect(base64Bytes(64).test(key)).toBe(false);
  });
});

describe("textOfLength", () => {
  const emoji = "\u{1F680}";
  it("counts characters as JSON Schema does, in code points, not UTF-16 units", () => {
    expect(JoinLinkLabel.safeParse(emoji.repeat(64)).success).toBe(true);
    expect(JoinLinkLabel.safeParse(emoji.repeat(65)).success).toBe(false);
    expect(Password.safeParse(emoji.repeat(10)).success).toBe(true);
    expect(Password.safeParse(emoji.repeat(9)).success).toBe(false);
  });

  it("agrees with the lengths it declares for any text", () => {
    const schema = textOfLength(2, 5);
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 8 }), (s) => {
        const n = [...s].length;
        expect(schema.safeParse(s).success).toBe(n >= 2 && n <= 5);
      }),
    );
    expect(z.toJSONSchema(schema)).toMatchObject({ minLength: 2, maxLength: 5 });
  });
});
