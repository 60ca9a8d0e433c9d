/** The local socket's contract and its datagram frames, without a daemon. */
import { describe, expect, it } from "vitest";
import type { DatagramIn } from "../src/dataplane/datagrams.ts";
import { MAX_DATAGRAM } from "../src/wire/packet.ts";
import { COMMANDS, DatagramSend, parseArgs } from "../src/local-socket/contract.ts";
import { datagramFrame, DatagramFrameReader, errorFrame, sendFrame, sentFrame, type SendFields } from "../src/local-socket/datagram-frames.ts";
import { binaryHeader, encodeFrame, FrameError, FrameReader, MAX_FRAME, type ErrorBody } from "../src/local-socket/frames.ts";

function readAll(...chunks: Buffer[]) {
  const got: { kind: string; value: unknown }[] = [];
  const reader = new DatagramFrameReader({
    send: (s) => got.push({ kind: "send", value: s }),
    sent: (ref, nodeId) => got.push({ kind: "sent", value: { ref, nodeId } }),
    error: (ref, e) => got.push({ kind: "error", value: { ref, ...e } }),
    datagram: (d) => got.push({ kind: "datagram", value: d }),
  });
  for (const chunk of chunks) reader.push(chunk);
  return got;
}

/** Bytes allocated for buffers while `f` runs (Buffer.concat allocates through Buffer.allocUnsafe too): what a reader copies. */
function bytesCopied(f: () => void): number {
  const allocUnsafe = Buffer.allocUnsafe;
  let total = 0;
  Buffer.allocUnsafe = (size: number) => {
    total += size;
    return allocUnsafe(size);
  };
  try {
    f();
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  return total;
}

const pieces = (bytes: Buffer, size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, i * size + size));

describe("the contract", () => {
  it("words a failed check as invalid_argument naming the field", () => {
    expect(() => parseArgs("approve", COMMANDS.approve.args, { node_id: 0 })).toThrow(expect.objectContaining({ code: "invalid_argument", message: expect.stringMatching(/^approve: node_id: /) }));
    expect(() => parseArgs("info", COMMANDS.info.args, { extra: 1 })).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    const big = () => parseArgs("send-datagram", DatagramSend, { target: "agent-b", port: 7, data: Buffer.alloc(MAX_DATAGRAM + 1) });
    expect(big).toThrow(expect.objectContaining({ code: "invalid_argument", message: expect.stringMatching(/at most 60000 bytes/) }));
    expect(parseArgs("send-datagram", DatagramSend, { target: "agent-b", port: 7, data: Buffer.alloc(MAX_DATAGRAM) }).data.length).toBe(MAX_DATAGRAM);
  });
});

describe("datagram frames", () => {
  const send: SendFields = { ref: 0xffffffff, target: "agent-ü", port: 7, srcPort: 0, payload: Buffer.from([0, 1, 255]) };
  const datagram: DatagramIn = { from: 0xfffffffe, srcPort: 65535, dstPort: 1, payload: Buffer.alloc(MAX_DATAGRAM, 7) };
  const error: ErrorBody = { code: "not_found", message: "no node", hint: "try a handshake" };

  it("carry every kind intact, however the bytes are cut", () => {
    const bytes = Buffer.concat([sendFrame(send), sentFrame(3, 1001), errorFrame(4, error), datagramFrame(datagram), sendFrame({ ...send, payload: Buffer.alloc(0) })]);
    const expected = [
      { kind: "send", value: send },
      { kind: "sent", value: { ref: 3, nodeId: 1001 } },
      { kind: "error", value: { ref: 4, ...error } },
      { kind: "datagram", value: datagram },
      { kind: "send", value: { ...send, payload: Buffer.alloc(0) } },
    ];
    expect(readAll(bytes)).toEqual(expected);
    expect(readAll(...pieces(bytes, 7))).toEqual(expected);
    const small = Buffer.concat([sendFrame(send), sentFrame(3, 1001), errorFrame(4, error), datagramFrame({ ...datagram, payload: Buffer.from("dgram") })]);
    const smallExpected = [...expected.slice(0, 3), { kind: "datagram", value: { ...datagram, payload: Buffer.from("dgram") } }];
    for (let at = 0; at <= small.length; at++) expect(readAll(small.subarray(0, at), small.subarray(at))).toEqual(smallExpected);
  });

  it("copy a frame dribbled in small pieces about once, not once per piece", () => {
    const bytes = datagramFrame(datagram);
    let got: unknown[] = [];
    expect(bytesCopied(() => (got = readAll(...pieces(bytes, 64))))).toBeLessThan(2 * bytes.length);
    expect(got).toEqual([{ kind: "datagram", value: datagram }]);
  });

  it("refuse an unknown kind, a length the kind does not allow, and a target past the end, before buffering", () => {
    const past = Buffer.concat([binaryHeader(0, 10), Buffer.from([0, 0, 0, 1, 0, 7, 0, 0, 0, 1])]);
    for (const bad of [binaryHeader(4, 0), binaryHeader(0, 9), binaryHeader(0, 0xffffffff), binaryHeader(1, 9), binaryHeader(2, 4 + 4097), binaryHeader(3, 7), past]) {
      expect(() => readAll(bad), bad.toString("hex")).toThrow(FrameError);
    }
  });

  it("refuse a send under ref 0, which only the daemon's error for the whole connection uses", () => {
    expect(() => readAll(sendFrame({ ...send, ref: 0 }))).toThrow(expect.objectContaining({ name: "FrameError", message: expect.stringMatching(/ref 0/) }));
    expect(readAll(errorFrame(0, error))).toEqual([{ kind: "error", value: { ref: 0, ...error } }]);
  });
});

describe("JSON frames", () => {
  it("come out whole however the bytes are cut, and a frame of the largest size is copied about once", () => {
    const frames = [{ id: 1, cmd: "info", args: {} }, { id: 2, ok: true as const, data: "ü".repeat(100) }];
    const bytes = Buffer.concat(frames.map((f) => encodeFrame(f)));
    for (let at = 0; at <= bytes.length; at++) {
      const reader = new FrameReader();
      expect([...reader.push(bytes.subarray(0, at)), ...reader.push(bytes.subarray(at))]).toEqual(frames);
    }
    const largest = { id: 3, ok: true as const, data: "x".repeat(MAX_FRAME - 30) };
    const big = encodeFrame(largest);
    expect(big.length).toBeGreaterThan(MAX_FRAME - 10);
    const reader = new FrameReader();
    let got: unknown[] = [];
    expect(bytesCopied(() => (got = pieces(big, 64).flatMap((piece) => reader.push(piece))))).toBeLessThan(2 * big.length);
    expect(got).toEqual([largest]);
  });
});
