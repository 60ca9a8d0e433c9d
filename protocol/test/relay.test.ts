import { describe, expect, it } from "vitest";
import { decodeRelayMessage, encodeRelayMessage, isTunnelFrame, RELAY_MAX_FRAME_BYTES, RELAY_MAX_MESSAGE_BYTES } from "../src/relay.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe("relay messages", () => {
  it("carry several frames, each with its node, in order", () => {
    const frames = [
      { node: 7, frame: bytes(3, 1) },
      { node: 0xffff_ffff, frame: bytes(RELAY_MAX_FRAME_BYTES, 2) },
      { node: 0, frame: bytes(1, 3) },
    ];
    const decoded = decodeRelayMessage(encodeRelayMessage(frames));
    expect(decoded?.map((f) => [f.node, f.frame.length, f.frame[0]])).toEqual([
      [7, 3, 1],
      [0xffff_ffff, RELAY_MAX_FRAME_BYTES, 2],
      [0, 1, 3],
    ]);
  });

  it("decode inside a larger buffer (a view, as sockets hand them over)", () => {
    const message = encodeRelayMessage([{ node: 42, frame: bytes(5, 9) }]);
    const host = new Uint8Array(message.length + 10);
    host.set(message, 10);
    expect(decodeRelayMessage(host.subarray(10))?.[0]).toEqual({ node: 42, frame: bytes(5, 9) });
  });

  it("refuse malformed messages whole", () => {
    const good = encodeRelayMessage([{ node: 1, frame: bytes(4, 1) }]);
    expect(decodeRelayMessage(new Uint8Array(0))).toBeUndefined();
    expect(decodeRelayMessage(good.subarray(0, good.length - 1))).toBeUndefined(); // frame runs past the end
    expect(decodeRelayMessage(good.subarray(0, 5))).toBeUndefined(); // header cut short
    expect(decodeRelayMessage(new Uint8Array([0, 0, 0, 1, 0, 0]))).toBeUndefined(); // empty frame
    const trailing = new Uint8Array(good.length + 2);
    trailing.set(good);
    expect(decodeRelayMessage(trailing)).toBeUndefined(); // a stray partial header after the last frame
    expect(decodeRelayMessage(new Uint8Array(RELAY_MAX_MESSAGE_BYTES + 1))).toBeUndefined();
  });

  it("refuse to encode what cannot be decoded", () => {
    expect(() => encodeRelayMessage([{ node: 1, frame: bytes(0, 0) }])).toThrow(RangeError);
    expect(() => encodeRelayMessage([{ node: 1, frame: bytes(RELAY_MAX_FRAME_BYTES + 1, 0) }])).toThrow(RangeError);
    expect(() => encodeRelayMessage([{ node: -1, frame: bytes(1, 0) }])).toThrow(RangeError);
    expect(() => encodeRelayMessage([{ node: 2 ** 32, frame: bytes(1, 0) }])).toThrow(RangeError);
  });
});

describe("tunnel frames", () => {
  const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

  it("are told by their magic", () => {
    expect(isTunnelFrame(ascii("PILS and a sealed packet"))).toBe(true);
    expect(isTunnelFrame(ascii("PILA and a key exchange"))).toBe(true);
    expect(isTunnelFrame(ascii("PILS"))).toBe(true);
  });

  it("exclude anything else, and frames too short to hold a magic", () => {
    for (const other of ["PILC certificate", "pils lower case", "XPILS", "PIL", "", "GET / HTTP/1.1"]) expect(isTunnelFrame(ascii(other))).toBe(false);
  });
});
