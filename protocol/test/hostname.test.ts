import { describe, expect, it } from "vitest";
import { HOSTNAME_PATTERN } from "../src/index.ts";

describe("the hostname pattern", () => {
  // Browsers compile a pattern attribute as ^(?:source)$ with the v flag; an invalid one is ignored.
  it("is also a valid HTML pattern attribute with the same meaning", () => {
    const html = new RegExp(`^(?:${HOSTNAME_PATTERN.source})$`, "v");
    for (const name of ["a", "research-lab", "7a", "a".repeat(63), "-a", "a-", "A", "a_b", "a".repeat(64), ""]) {
      expect(html.test(name)).toBe(HOSTNAME_PATTERN.test(name));
    }
  });
});
