import { encodeRelayMessage } from "@pilot/protocol";
import { describe, expect, it } from "vitest";
import { relayedFrames } from "../src/net/relay-link.ts";

describe("frames arriving through the relay", () => {
  it("come each in a buffer of its own, so a packet opened in place and held keeps only itself alive", () => {
    const sent = [
      { node: 7, frame: Buffer.alloc(1400, 1) },
      { node: 9, frame: Buffer.alloc(60, 2) },
    ];
    const message = encodeRelayMessage(sent).buffer;
    const frames = relayedFrames(message)!;
    expect(frames.map((f) => [f.node, f.frame.length, f.frame[0]])).toEqual([
      [7, 1400, 1],
      [9, 60, 2],
    ]);
    for (const { frame } of frames) {
      expect(frame.buffer).not.toBe(message);
      expect(frame.buffer.byteLength).toBe(frame.length);
    }
    // Writing over one (as an open in place does) changes neither the message nor the other frame.
    frames[0]!.frame.fill(0);
    expect(relayedFrames(message)![0]!.frame[0]).toBe(1);
    expect(frames[1]!.frame[0]).toBe(2);
  });

  it("are none for a malformed message", () => {
    expect(relayedFrames(new Uint8Array([1, 2, 3]).buffer)).toBeUndefined();
  });
});
