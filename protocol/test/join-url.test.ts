import { describe, expect, it } from "vitest";
import { formatJoinUrl, JoinUrlError, parseJoinUrl, type JoinLink } from "../src/index.ts";

describe("join URLs", () => {
  it("carry the registry, the network and the token from the fragment", () => {
    expect(parseJoinUrl("https://registry.example/join/7#token=abc-DEF_123")).toEqual({
      registry: "https://registry.example",
      networkId: 7,
      token: "abc-DEF_123",
    });
    expect(parseJoinUrl("http://localhost:8787/join/65535#token=my-secret").registry).toBe("http://localhost:8787");
  });

  it("are written with the token in the fragment", () => {
    expect(formatJoinUrl({ registry: "https://registry.example", networkId: 7, token: "abc-DEF_123" })).toBe(
      "https://registry.example/join/7#token=abc-DEF_123",
    );
  });

  it.each<JoinLink>([
    { registry: "https://registry.example", networkId: 1, token: "abcdefgh" },
    { registry: "http://localhost:8787", networkId: 65535, token: "a.b_c~d-e".padEnd(128, "Z") },
    { registry: "https://10.0.0.1:4443", networkId: 42, token: "3q2-7w_XYZ~tok.en" },
  ])("read back what was written: $registry $networkId", (link) => {
    expect(parseJoinUrl(formatJoinUrl(link))).toEqual(link);
  });

  it.each([
    ["not a URL", "join 7 please"],
    ["another scheme", "ftp://registry.example/join/7#token=abcdefgh"],
    ["no token", "https://registry.example/join/7"],
    ["a token in the query, where servers would log it", "https://registry.example/join/7?token=abcdefgh"],
    ["a short token", "https://registry.example/join/7#token=abc"],
    ["network 0", "https://registry.example/join/0#token=abcdefgh"],
    ["network 65536", "https://registry.example/join/65536#token=abcdefgh"],
    ["another path", "https://registry.example/networks/7#token=abcdefgh"],
  ])("refuse %s", (_, text) => {
    expect(() => parseJoinUrl(text)).toThrow(JoinUrlError);
  });
});
