/**
 * The built-in services' wire formats, with scripted bytes: data exchange frames (port 1001) and
 * event stream events (port 1002), cut at every byte; the limits on lengths, names and topics;
 * and how answers from a peer are read.
 */
import { describe, expect, it } from "vitest";
import { dataFrameDecoder, encodeDataFrame, encodeFile, FileHeaderReader, FRAME_TYPE, MAX_FILE_NAME, MAX_FRAME, maxFileData, readAnswer, readFileName, typeLabel } from "../src/services/data-frames.ts";
import { encodeEvent, eventDecoder, MAX_EVENT, MAX_TOPIC, readTopic } from "../src/services/event-frames.ts";
import type { FrameDecoder, FrameEvent } from "../src/services/frame-decoder.ts";
import { showable } from "../src/services/peer-text.ts";

/** Feeds `bytes` in pieces cut at `cuts`; returns the events with data joined per frame, for comparison. */
function decode<Head>(decoder: FrameDecoder<Head>, bytes: Buffer, cuts: number[] = []): (FrameEvent<Head> | { kind: "payload"; text: string })[] {
  const events: FrameEvent<Head>[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...decoder.push(bytes.subarray(at, cut)));
    at = cut;
  }
  // Data may come in any number of pieces: what counts is what they add up to between head and end.
  const joined: (FrameEvent<Head> | { kind: "payload"; text: string })[] = [];
  for (const e of events) {
    const last = joined.at(-1);
    if (e.kind === "data" && last?.kind === "payload") last.text += e.bytes.toString("latin1");
    else if (e.kind === "data") joined.push({ kind: "payload", text: e.bytes.toString("latin1") });
    else joined.push(e);
  }
  return joined;
}

const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const u16 = (n: number) => Buffer.from([n >>> 8, n & 0xff]);

describe("data exchange frames", () => {
  const two = Buffer.concat([...encodeDataFrame(FRAME_TYPE.text, Buffer.from("hello")), ...encodeDataFrame(FRAME_TYPE.json, Buffer.from('{"a":1}'))]);
  const expected = [
    { kind: "head", head: { type: 1 }, length: 5 },
    { kind: "payload", text: "hello" },
    { kind: "end" },
    { kind: "head", head: { type: 3 }, length: 7 },
    { kind: "payload", text: '{"a":1}' },
    { kind: "end" },
  ];

  it("encode as [u32 type][u32 length][payload], big-endian", () => {
    expect(Buffer.concat(encodeDataFrame(FRAME_TYPE.binary, Buffer.from([9, 8])))).toEqual(Buffer.from([0, 0, 0, 2, 0, 0, 0, 2, 9, 8]));
    expect(FRAME_TYPE).toEqual({ text: 1, binary: 2, json: 3, file: 4 });
    expect([1, 2, 3, 4, 9].map(typeLabel)).toEqual(["TEXT", "BINARY", "JSON", "FILE", "UNKNOWN(9)"]);
  });

  it("decode whole, in one piece or cut at any byte, and one byte at a time", () => {
    expect(decode(dataFrameDecoder(), two)).toEqual(expected);
    for (let cut = 0; cut <= two.length; cut++) expect(decode(dataFrameDecoder(), two, [cut])).toEqual(expected);
    expect(decode(dataFrameDecoder(), two, [...two.keys()])).toEqual(expected);
  });

  it("decode an empty payload, and an unknown type (which is the service's to refuse)", () => {
    const bytes = Buffer.concat([...encodeDataFrame(FRAME_TYPE.text, Buffer.alloc(0)), u32(77), u32(1), Buffer.from("x")]);
    expect(decode(dataFrameDecoder(), bytes)).toEqual([
      { kind: "head", head: { type: 1 }, length: 0 },
      { kind: "end" },
      { kind: "head", head: { type: 77 }, length: 1 },
      { kind: "payload", text: "x" },
      { kind: "end" },
    ]);
  });

  it("refuse a length over 16 MiB at its header, and read nothing after it", () => {
    const decoder = dataFrameDecoder();
    const bytes = Buffer.concat([u32(1), u32(MAX_FRAME + 1), Buffer.from("more"), ...encodeDataFrame(1, Buffer.from("later"))]);
    expect(decode(decoder, bytes, [3])).toEqual([{ kind: "bad", reason: `a frame of ${MAX_FRAME + 1} bytes is over the ${MAX_FRAME}-byte limit` }]);
    expect(decoder.push(Buffer.concat(encodeDataFrame(1, Buffer.from("still later"))))).toEqual([]);
    expect(decoder.atBoundary).toBe(false);
    // 0xFFFFFFFF too, and exactly 16 MiB is fine.
    expect(decode(dataFrameDecoder(), Buffer.concat([u32(1), u32(0xffffffff)]))[0]).toMatchObject({ kind: "bad" });
    expect(decode(dataFrameDecoder(), Buffer.concat([u32(2), u32(MAX_FRAME)]))).toEqual([{ kind: "head", head: { type: 2 }, length: MAX_FRAME }]);
  });

  it("know whether the stream is between frames: a truncated header or payload is not", () => {
    const decoder = dataFrameDecoder();
    expect(decoder.atBoundary).toBe(true);
    decoder.push(two.subarray(0, 5));
    expect(decoder.atBoundary).toBe(false);
    decoder.push(two.subarray(5, 10));
    expect(decoder.atBoundary).toBe(false);
    decoder.push(two.subarray(10, 13));
    expect(decoder.atBoundary).toBe(true);
  });
});

describe("files in a data exchange frame", () => {
  it("encode as the frame's header, [u16 name length][name], and the data uncopied", () => {
    const data = Buffer.from("contents");
    const pieces = encodeFile("a.txt", data);
    expect(pieces[1]).toBe(data);
    expect(Buffer.concat(pieces)).toEqual(Buffer.concat([u32(4), u32(2 + 5 + 8), u16(5), Buffer.from("a.txt"), data]));
    expect(maxFileData("a.txt")).toBe(MAX_FRAME - 7);
  });

  it("read the name from pieces of any size, with what of the data came along", () => {
    const payload = Buffer.concat([u16(5), Buffer.from("a.txtDATA")]);
    for (let cut = 0; cut <= payload.length; cut++) {
      const reader = new FileHeaderReader(payload.length);
      const first = reader.push(payload.subarray(0, cut));
      const read = first ?? reader.push(payload.subarray(cut));
      expect(read).toEqual({ name: Buffer.from("a.txt"), rest: cut >= 7 ? Buffer.from("DATA").subarray(0, cut - 7) : Buffer.from("DATA") });
      if (first) expect(cut).toBeGreaterThanOrEqual(7);
    }
  });

  it("refuse a name length that runs past the frame", () => {
    expect(new FileHeaderReader(6).push(Buffer.concat([u16(5), Buffer.from("abc")]))).toBe("the file name's length (5) runs past the frame");
    expect(new FileHeaderReader(1).push(Buffer.from([0]))).toBeNull();
  });

  it("take plain names only", () => {
    const ok = ["report.pdf", "notes", "résumé ✓.txt", "a..b", "x".repeat(MAX_FILE_NAME), "ends.with.dot.", "name with spaces"];
    for (const name of ok) expect(readFileName(Buffer.from(name))).toEqual({ name });
    const bad: [Buffer, string][] = [
      [Buffer.alloc(0), "the file name is empty"],
      [Buffer.from("../etc/passwd"), "the file name holds a path separator; send a plain name"],
      [Buffer.from("/etc/passwd"), "the file name holds a path separator; send a plain name"],
      [Buffer.from("dir/file"), "the file name holds a path separator; send a plain name"],
      [Buffer.from("dir\\file"), "the file name holds a path separator; send a plain name"],
      [Buffer.from(".."), 'the file name starts with "." (a hidden file, or a way up the tree)'],
      [Buffer.from("."), 'the file name starts with "." (a hidden file, or a way up the tree)'],
      [Buffer.from(".bashrc"), 'the file name starts with "." (a hidden file, or a way up the tree)'],
      [Buffer.from("a\0b"), "the file name holds a control character"],
      [Buffer.from("a\nb"), "the file name holds a control character"],
      [Buffer.from("\x1b[31mred"), "the file name holds a control character"],
      [Buffer.from("a\x7fb"), "the file name holds a control character"],
      [Buffer.from("a\u0085b"), "the file name holds a control character"],
      [Buffer.from("report\u202Efdp.exe"), "the file name holds a control character"],
      [Buffer.from([0x61, 0xff, 0x62]), "the file name is not UTF-8"],
      [Buffer.from([0xc0, 0xae]), "the file name is not UTF-8"],
      [Buffer.from("x".repeat(MAX_FILE_NAME + 1)), `the file name is ${MAX_FILE_NAME + 1} bytes, over the ${MAX_FILE_NAME}-byte limit`],
      [Buffer.from("é".repeat(121)), `the file name is 242 bytes, over the ${MAX_FILE_NAME}-byte limit`],
    ];
    for (const [bytes, problem] of bad) expect(readFileName(bytes)).toEqual({ problem });
  });
});

describe("answers", () => {
  it("read an ACK as success and an ERR as its code and message", () => {
    expect(readAnswer("ACK TEXT 5 bytes")).toBeNull();
    expect(readAnswer("ERR inbox_full: the inbox holds 10 files already, its limit")).toEqual({ code: "inbox_full", message: "the inbox holds 10 files already, its limit" });
  });

  it("take nothing else as an ACK, and make a peer's message safe to print", () => {
    expect(readAnswer("ACK")).toEqual({ code: "bad_answer", message: "the peer answered neither ACK nor ERR: ACK" });
    expect(readAnswer("ERR Bad Code: x")).toMatchObject({ code: "bad_answer" });
    expect(readAnswer("ERR oops: \x1b]0;pwned\x07 and\nmore")).toEqual({ code: "oops", message: "?]0;pwned? and?more" });
    expect(readAnswer(`ERR long: ${"z".repeat(5000)}`)!.message).toHaveLength(1000);
    expect(showable("a\u202Eb")).toBe("a?b");
  });
});

describe("event stream events", () => {
  const two = Buffer.concat([...encodeEvent("alerts", Buffer.from("disk full")), ...encodeEvent("*", Buffer.alloc(0))]);
  const expected = [
    { kind: "head", head: { topic: "alerts" }, length: 9 },
    { kind: "payload", text: "disk full" },
    { kind: "end" },
    { kind: "head", head: { topic: "*" }, length: 0 },
    { kind: "end" },
  ];

  it("encode as [u16 topic length][topic][u32 length][payload], big-endian", () => {
    expect(Buffer.concat(encodeEvent("t", Buffer.from([7])))).toEqual(Buffer.from([0, 1, 0x74, 0, 0, 0, 1, 7]));
  });

  it("decode whole, cut at any byte, and one byte at a time", () => {
    expect(decode(eventDecoder(), two)).toEqual(expected);
    for (let cut = 0; cut <= two.length; cut++) expect(decode(eventDecoder(), two, [cut])).toEqual(expected);
    expect(decode(eventDecoder(), two, [...two.keys()])).toEqual(expected);
  });

  it("refuse a topic that is empty, too long or not plain text, and a payload over 16 MiB, reading nothing after", () => {
    const cases: [Buffer, string][] = [
      [Buffer.concat([u16(0), u32(0)]), "the topic is empty"],
      [Buffer.concat([u16(MAX_TOPIC + 1)]), `the topic is ${MAX_TOPIC + 1} bytes, over the ${MAX_TOPIC}-byte limit`],
      [Buffer.concat([u16(0xffff)]), `the topic is 65535 bytes, over the ${MAX_TOPIC}-byte limit`],
      [Buffer.concat([u16(3), Buffer.from("a\0b"), u32(0)]), "the topic holds a control character"],
      [Buffer.concat([u16(2), Buffer.from([0xff, 0xfe]), u32(0)]), "the topic is not UTF-8"],
      [Buffer.concat([u16(1), Buffer.from("t"), u32(MAX_EVENT + 1)]), `an event of ${MAX_EVENT + 1} bytes is over the ${MAX_EVENT}-byte limit`],
    ];
    for (const [bytes, reason] of cases) {
      const decoder = eventDecoder();
      expect(decode(decoder, Buffer.concat([bytes, ...encodeEvent("next", Buffer.from("x"))]))).toEqual([{ kind: "bad", reason }]);
      expect(decoder.push(Buffer.concat(encodeEvent("later", Buffer.from("y"))))).toEqual([]);
    }
    // The longest topic is fine.
    const longest = "t".repeat(MAX_TOPIC);
    expect(decode(eventDecoder(), Buffer.concat(encodeEvent(longest, Buffer.alloc(0))))).toEqual([{ kind: "head", head: { topic: longest }, length: 0 }, { kind: "end" }]);
  });

  it("read topics as names are read", () => {
    expect(readTopic(Buffer.from("sensors/temp.kitchen ✓"))).toEqual({ topic: "sensors/temp.kitchen ✓" });
    expect(readTopic(Buffer.from("*"))).toEqual({ topic: "*" });
    expect(readTopic(Buffer.from("tab\there"))).toEqual({ problem: "the topic holds a control character" });
  });
});
