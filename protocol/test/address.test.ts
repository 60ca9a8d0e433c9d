import { describe, expect, it } from "vitest";
import { AddressError, formatAddress, parseAddress, parseNodeRef } from "../src/index.ts";

describe("the Pilot address codec", () => {
  it.each([
    [{ network: 1, node: 1001 }, "1:0001.0000.03E9"],
    [{ network: 0, node: 1 }, "0:0000.0000.0001"],
    [{ network: 0, node: 0 }, "0:0000.0000.0000"],
    [{ network: 163, node: 0xf2910004 }, "163:00A3.F291.0004"],
    [{ network: 65535, node: 0xffffffff }, "65535:FFFF.FFFF.FFFF"],
    [{ network: 4660, node: 0x10000 }, "4660:1234.0001.0000"],
  ])("formats %o as %s and parses it back", (address, text) => {
    expect(formatAddress(address)).toBe(text);
    expect(parseAddress(text)).toEqual(address);
  });

  it("accepts lower-case hex and prints it upper-case", () => {
    expect(formatAddress(parseAddress("10:000a.beef.03e9"))).toBe("10:000A.BEEF.03E9");
  });

  it.each([
    ["the SPEC's example, whose hex network is not its decimal one", "1:00A3.F291.0004"],
    ["a three-digit group", "1:0001.0000.3E9"],
    ["a five-digit group", "1:0001.0000.003E9"],
    ["a missing group", "1:0001.03E9"],
    ["an extra group", "1:0001.0000.0000.03E9"],
    ["a network past 16 bits", "65536:10000.0000.0001"],
    ["a leading zero in the network", "01:0001.0000.0001"],
    ["a negative network", "-1:FFFF.0000.0001"],
    ["a non-hex digit", "1:0001.0000.03G9"],
    ["a port suffix", "1:0001.0000.03E9:80"],
    ["surrounding space", " 1:0001.0000.03E9"],
    ["a trailing newline", "1:0001.0000.03E9\n"],
    ["a full-width colon", "1：0001.0000.03E9"],
    ["an empty string", ""],
    ["a bare node ID", "1001"],
  ])("refuses %s", (_, text) => {
    expect(() => parseAddress(text)).toThrow(AddressError);
  });

  it.each([
    [{ network: 65536, node: 1 }],
    [{ network: -1, node: 1 }],
    [{ network: 1, node: 2 ** 32 }],
    [{ network: 1, node: 1.5 }],
  ])("refuses to format %o", (address) => {
    expect(() => formatAddress(address)).toThrow(AddressError);
  });
});

describe("node references", () => {
  it("read node IDs, addresses and hostnames", () => {
    expect(parseNodeRef("1001")).toEqual({ kind: "id", node: 1001 });
    expect(parseNodeRef("4294967294")).toEqual({ kind: "id", node: 4294967294 });
    expect(parseNodeRef("4294967295")).toBeNull();
    expect(parseNodeRef("1:0001.0000.03E9")).toEqual({ kind: "address", address: { network: 1, node: 1001 } });
    expect(parseNodeRef("my-agent")).toEqual({ kind: "hostname", hostname: "my-agent" });
  });

  it.each(["0", "007", "4294967296", "99999999999", "1:00A3.F291.0004", "My-Agent", "-agent", "", "a b"])(
    "refuse %j",
    (text) => {
      expect(parseNodeRef(text)).toBeNull();
    },
  );
});
