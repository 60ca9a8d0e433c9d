/**
 * The data exchange service (port 1001) against scripted peers, with real inbox/ and received/
 * directories: what each frame saves and how it is answered, and every bad value a peer may send
 * (each refused with a clear ERR, nothing saved, the service serving on). Between real daemons,
 * e2e/services.test.ts.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ANSWER_BACKLOG, dataExchange, MAX_JSON_DEPTH } from "../src/services/data-exchange.ts";
import { dataFrameDecoder, encodeDataFrame, encodeFile, FRAME_TYPE, MAX_FRAME } from "../src/services/data-frames.ts";
import { FrameBudget } from "../src/services/frame-budget.ts";
import { Inbox } from "../src/store/inbox.ts";
import { ReceivedFiles } from "../src/store/received-files.ts";
import { ScriptedStream } from "./scripted-stream.ts";
import { waitFor } from "./wait.ts";

let home: string;
let budget: FrameBudget;
let logged: string[];
const PEER = 0x10005;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "pilot-dx-"));
  budget = new FrameBudget({ total: 64 << 20, perPeer: 32 << 20 });
  logged = [];
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function connect(options: { inbox?: Inbox; received?: ReceivedFiles; peer?: number } = {}) {
  const inbox = options.inbox ?? new Inbox(join(home, "inbox"));
  const received = options.received ?? new ReceivedFiles(join(home, "received"));
  return new ScriptedStream(options.peer ?? PEER, dataExchange({ inbox, received, budget, log: (line) => logged.push(line) }));
}

/** The text frames the service answered with. */
function answers(stream: ScriptedStream): string[] {
  const out: string[] = [];
  let pieces: Buffer[] = [];
  for (const e of dataFrameDecoder().push(stream.bytes)) {
    if (e.kind === "head") {
      expect(e.head.type).toBe(FRAME_TYPE.text);
      pieces = [];
    } else if (e.kind === "data") pieces.push(e.bytes);
    else if (e.kind === "end") out.push(Buffer.concat(pieces).toString());
  }
  return out;
}

async function answered(stream: ScriptedStream, n: number): Promise<string[]> {
  await waitFor(() => answers(stream).length >= n, `${n} answers`);
  return answers(stream);
}

const frame = (type: number, payload: string | Buffer) => Buffer.concat(encodeDataFrame(type, Buffer.from(payload)));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const inboxFiles = () => readdirSync(join(home, "inbox")).sort();
const inboxMessages = () => inboxFiles().map((name) => JSON.parse(readFileSync(join(home, "inbox", name), "utf8")));
const receivedFiles = () => {
  try {
    return readdirSync(join(home, "received")).sort();
  } catch {
    return [];
  }
};
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("messages", () => {
  it("saves text, JSON and binary messages to the inbox and acknowledges each, in order", async () => {
    const s = connect();
    const binary = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    s.send(frame(FRAME_TYPE.text, "héllo"), frame(FRAME_TYPE.json, '{"task":"summarise","n":[1,2]}'), frame(FRAME_TYPE.binary, binary));
    expect(await answered(s, 3)).toEqual(["ACK TEXT 6 bytes", "ACK JSON 30 bytes", "ACK BINARY 5 bytes"]);
    const messages = inboxMessages();
    expect(messages).toHaveLength(3);
    const byType = Object.fromEntries(messages.map((m) => [m.type, m]));
    expect(byType["TEXT"]).toEqual({ type: "TEXT", from: "0:0000.0001.0005", data: "héllo", bytes: 6, received_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(byType["JSON"]).toMatchObject({ data: '{"task":"summarise","n":[1,2]}', bytes: 30 });
    expect(byType["BINARY"]).toMatchObject({ data: binary.toString("base64"), bytes: 5 });
    for (const name of inboxFiles()) expect(name).toMatch(/^(TEXT|JSON|BINARY)-\d{8}-\d{6}\.\d{3}(-\d+)?\.json$/);
    // Every byte was taken, and the memory given back.
    await waitFor(() => s.consumedBytes === s.delivered, "every byte consumed");
    expect(budget.used).toBe(0);
  });

  it("reads frames however they are cut, one byte at a time included", async () => {
    const s = connect();
    const bytes = Buffer.concat([frame(FRAME_TYPE.text, "one"), frame(FRAME_TYPE.text, "")]);
    for (const b of bytes) s.send(Buffer.from([b]));
    expect(await answered(s, 2)).toEqual(["ACK TEXT 3 bytes", "ACK TEXT 0 bytes"]);
    expect(inboxMessages().map((m) => m.data).sort()).toEqual(["", "one"]);
  });

  it("refuses a JSON message that is not JSON, text that is not UTF-8, and an unknown type, saving nothing and serving on", async () => {
    const s = connect();
    s.send(
      frame(FRAME_TYPE.json, "{not json"),
      frame(FRAME_TYPE.json, ""),
      frame(FRAME_TYPE.text, Buffer.from([0x61, 0xff])),
      frame(FRAME_TYPE.json, Buffer.from([0x22, 0xc3, 0x22])),
      frame(9, "whatever it holds"),
      frame(0, ""),
      frame(FRAME_TYPE.json, "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1)),
      frame(FRAME_TYPE.json, "[".repeat(8 << 20)),
      frame(FRAME_TYPE.json, `${"[".repeat(MAX_JSON_DEPTH)}"[{"${"]".repeat(MAX_JSON_DEPTH)}`),
      frame(FRAME_TYPE.text, "still here"),
    );
    expect(await answered(s, 10)).toEqual([
      "ERR invalid_json: the JSON message does not parse as JSON",
      "ERR invalid_json: the JSON message does not parse as JSON",
      "ERR invalid_text: the TEXT message is not UTF-8",
      "ERR invalid_json: the JSON message is not UTF-8",
      "ERR unknown_type: frame type 9 is none of 1 (text), 2 (binary), 3 (JSON), 4 (file)",
      "ERR unknown_type: frame type 0 is none of 1 (text), 2 (binary), 3 (JSON), 4 (file)",
      `ERR invalid_json: the JSON message nests deeper than ${MAX_JSON_DEPTH}`,
      `ERR invalid_json: the JSON message nests deeper than ${MAX_JSON_DEPTH}`,
      `ACK JSON ${2 * MAX_JSON_DEPTH + 4} bytes`,
      "ACK TEXT 10 bytes",
    ]);
    expect(inboxMessages().map((m) => m.data)).toEqual([`${"[".repeat(MAX_JSON_DEPTH)}"[{"${"]".repeat(MAX_JSON_DEPTH)}`, "still here"]);
    expect(s.ended).toBe(false);
  });

  it("answers a length over 16 MiB with ERR, ends its side, and reads nothing after it", async () => {
    const s = connect();
    s.send(frame(FRAME_TYPE.text, "before"), Buffer.concat([u32(FRAME_TYPE.text), u32(MAX_FRAME + 1)]), randomBytes(1000), frame(FRAME_TYPE.text, "after"));
    expect(await answered(s, 2)).toEqual(["ACK TEXT 6 bytes", `ERR frame_too_large: a frame of ${MAX_FRAME + 1} bytes is over the ${MAX_FRAME}-byte limit`]);
    await waitFor(() => s.consumedBytes === s.delivered, "every byte consumed");
    expect(s.ended).toBe(true);
    s.finish();
    expect(answers(s)).toHaveLength(2);
    expect(inboxMessages().map((m) => m.data)).toEqual(["before"]);
    expect(budget.used).toBe(0);
  });

  it("keeps nothing of a frame the peer ends half-way, and says so", async () => {
    const s = connect();
    s.send(frame(FRAME_TYPE.text, "whole"), frame(FRAME_TYPE.text, "cut short").subarray(0, 12));
    await answered(s, 1);
    s.finish();
    expect(await answered(s, 2)).toEqual(["ACK TEXT 5 bytes", "ERR truncated: the stream ended inside a frame; nothing of that frame was kept"]);
    expect(s.ended).toBe(true);
    expect(inboxMessages().map((m) => m.data)).toEqual(["whole"]);
    expect(budget.used).toBe(0);
  });

  it("gives back a message's memory when its connection fails half-way", async () => {
    const s = connect();
    s.send(frame(FRAME_TYPE.binary, randomBytes(100_000)).subarray(0, 50_000));
    await waitFor(() => budget.used === 100_000, "the message's room set aside");
    s.fail();
    expect(budget.used).toBe(0);
    expect(receivedFiles()).toEqual([]);
  });

  it("resets a connection whose frame stalls while it may send, giving back its memory and its room in received/", async () => {
    const stalling = new FrameBudget({ total: 64 << 20, perPeer: 32 << 20, stallMs: 200 });
    const received = new ReceivedFiles(join(home, "received"), { files: 10, bytes: 300_000 });
    const message = new ScriptedStream(PEER, dataExchange({ inbox: new Inbox(join(home, "inbox")), received, budget: stalling, log: () => undefined }));
    // A header, and a little, then nothing: the frame's memory is set aside and held.
    message.send(frame(FRAME_TYPE.binary, randomBytes(100_000)).subarray(0, 50));
    await waitFor(() => stalling.used === 100_000, "the message's room set aside");
    const file = new ScriptedStream(PEER, dataExchange({ inbox: new Inbox(join(home, "inbox")), received, budget: stalling, log: () => undefined }));
    file.send(frame(FRAME_TYPE.file, Buffer.concat([Buffer.from([0, 5]), Buffer.from("a.bin"), randomBytes(250_000)])).subarray(0, 64));
    await waitFor(() => message.wasReset && file.wasReset, "both stalled connections to be reset");
    expect(stalling.used).toBe(0);
    // The room the file set aside is free again: another file of that size fits.
    const next = new ScriptedStream(PEER, dataExchange({ inbox: new Inbox(join(home, "inbox")), received, budget: stalling, log: () => undefined }));
    next.send(frame(FRAME_TYPE.file, Buffer.concat([Buffer.from([0, 5]), Buffer.from("b.bin"), randomBytes(250_000)])));
    expect(await answered(next, 1)).toEqual(["ACK FILE 250000 bytes"]);
  });

  it("answers inbox_full once the inbox is full, saving nothing, and takes messages again once it is cleared", async () => {
    const inbox = new Inbox(join(home, "inbox"), { files: 2, bytes: 1 << 20 });
    const s = connect({ inbox });
    s.send(frame(FRAME_TYPE.text, "1"), frame(FRAME_TYPE.text, "2"), frame(FRAME_TYPE.text, "3"));
    expect(await answered(s, 3)).toEqual(["ACK TEXT 1 bytes", "ACK TEXT 1 bytes", "ERR inbox_full: the inbox holds 2 files already, its limit"]);
    expect(inboxFiles()).toHaveLength(2);
    new Inbox(join(home, "inbox")).clear();
    s.send(frame(FRAME_TYPE.text, "4"));
    expect((await answered(s, 4))[3]).toBe("ACK TEXT 1 bytes");
  });

  it("does not read on while the peer leaves its answers unread", async () => {
    const s = connect();
    // Frames of an unknown type: answered at once, with nothing to save.
    const refused = frame(77, "");
    const answerSize = Buffer.concat(encodeDataFrame(FRAME_TYPE.text, Buffer.from(`ERR unknown_type: frame type 77 is none of 1 (text), 2 (binary), 3 (JSON), 4 (file)`))).length;
    const many = Math.ceil(ANSWER_BACKLOG / answerSize) * 2;
    s.send(...Array.from({ length: many }, () => refused));
    await waitFor(() => s.backlog > ANSWER_BACKLOG, "the answers to pile up");
    await new Promise((r) => setImmediate(r));
    const stalledAt = answers(s).length;
    expect(stalledAt).toBe(Math.ceil((ANSWER_BACKLOG + 1) / answerSize));
    expect(s.consumedBytes).toBeLessThan(s.delivered);
    // Reading them lets it carry on, to the end.
    s.ack();
    await waitFor(() => answers(s).length > stalledAt, "more answers");
    for (let n = answers(s).length; n < many; n = answers(s).length) {
      s.ack();
      await waitFor(() => answers(s).length > n, "more answers");
    }
    expect(s.consumedBytes).toBe(s.delivered);
  });

  it("waits for memory when the frame budget is spent, and carries on once it is given back", async () => {
    budget = new FrameBudget({ total: 150_000, perPeer: 100_000 });
    const a = connect({ peer: 1 });
    const b = connect({ peer: 2 });
    a.send(frame(FRAME_TYPE.binary, randomBytes(100_000)).subarray(0, 50));
    await waitFor(() => budget.used === 100_000, "A's room");
    b.send(frame(FRAME_TYPE.binary, randomBytes(100_000)));
    // B waits: its bytes are not taken.
    await new Promise((r) => setImmediate(r));
    expect(answers(b)).toEqual([]);
    expect(b.consumedBytes).toBe(0);
    a.fail();
    expect(await answered(b, 1)).toEqual(["ACK BINARY 100000 bytes"]);
  });
});

describe("files", () => {
  const fileFrame = (name: string | Buffer, data: Buffer) => {
    const nameBytes = Buffer.from(name);
    const header = Buffer.alloc(2);
    header.writeUInt16BE(nameBytes.length);
    return frame(FRAME_TYPE.file, Buffer.concat([header, nameBytes, data]));
  };

  it("saves a file byte for byte under its name, and a second of the same name beside it", async () => {
    const s = connect();
    const data = randomBytes(300_000);
    s.send(Buffer.concat(encodeFile("data.bin", data)));
    s.send(fileFrame("data.bin", Buffer.from("second")));
    expect(await answered(s, 2)).toEqual(["ACK FILE 300000 bytes", "ACK FILE 6 bytes"]);
    expect(receivedFiles()).toEqual(["data-1.bin", "data.bin"]);
    expect(sha(readFileSync(join(home, "received", "data.bin")))).toBe(sha(data));
    expect(readFileSync(join(home, "received", "data-1.bin"), "utf8")).toBe("second");
  });

  it("refuses names that are paths, hidden, empty, too long or not plain text, writing nothing anywhere", async () => {
    const s = connect();
    const names: (string | Buffer)[] = ["../escape", "/etc/passwd", "a/b", "..", "", "n\0ul", "x".repeat(241), Buffer.from([0xff]), "evil\u202Etxt.exe"];
    for (const name of names) s.send(fileFrame(name, Buffer.from("payload")));
    s.send(fileFrame("fine.txt", Buffer.from("ok")));
    const got = await answered(s, names.length + 1);
    expect(got.slice(0, -1).every((a) => a.startsWith("ERR invalid_file_name: "))).toBe(true);
    expect(got.at(-1)).toBe("ACK FILE 2 bytes");
    expect(receivedFiles()).toEqual(["fine.txt"]);
    expect(readdirSync(home).sort()).toEqual(["received"]);
  });

  it("refuses a file frame too short for its name, or whose name runs past it", async () => {
    const s = connect();
    const runsPast = Buffer.concat([u32(FRAME_TYPE.file), u32(4), Buffer.from([0, 200]), Buffer.from("ab")]);
    s.send(frame(FRAME_TYPE.file, ""), frame(FRAME_TYPE.file, Buffer.from([0])), runsPast, fileFrame("next", Buffer.from("x")));
    expect(await answered(s, 4)).toEqual([
      "ERR invalid_file: the file frame is too short to hold its name",
      "ERR invalid_file: the file frame is too short to hold its name",
      "ERR invalid_file: the file name's length (200) runs past the frame",
      "ACK FILE 1 bytes",
    ]);
  });

  it("never writes through a link planted in received/, nor into a received/ that is a link", async () => {
    const outside = mkdtempSync(join(tmpdir(), "pilot-dx-outside-"));
    try {
      const dir = join(home, "received");
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(join(outside, "target"), "original");
      symlinkSync(join(outside, "target"), join(dir, "notes.txt"));
      const s = connect();
      s.send(fileFrame("notes.txt", Buffer.from("planted?")));
      expect(await answered(s, 1)).toEqual(["ACK FILE 8 bytes"]);
      expect(readFileSync(join(outside, "target"), "utf8")).toBe("original");
      expect(readFileSync(join(dir, "notes-1.txt"), "utf8")).toBe("planted?");

      rmSync(dir, { recursive: true });
      symlinkSync(outside, dir);
      s.send(fileFrame("x.txt", Buffer.from("through the link?")));
      // The peer hears only that saving failed; this node's log has why.
      expect((await answered(s, 2))[1]).toBe("ERR save_failed: the file could not be saved on this node");
      expect(logged).toEqual([expect.stringContaining("symbolic link")]);
      expect(readdirSync(outside)).toEqual(["target"]);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("answers received_full when the file would not fit, writing nothing, and serves on", async () => {
    const received = new ReceivedFiles(join(home, "received"), { files: 10, bytes: 1000 });
    const s = connect({ received });
    s.send(fileFrame("big", randomBytes(1001)), fileFrame("small", randomBytes(1000)));
    expect(await answered(s, 2)).toEqual(["ERR received_full: the received files has 1000 of its 1000 bytes free, not 1001", "ACK FILE 1000 bytes"]);
    expect(receivedFiles()).toEqual(["small"]);
  });

  it("leaves no trace of a file whose connection fails or ends half-way", async () => {
    const s = connect();
    s.send(Buffer.concat(encodeFile("half.bin", randomBytes(100_000))).subarray(0, 60_000));
    // Its temporary file is there, written to.
    await waitFor(() => receivedFiles().length === 1 && s.consumedBytes === 60_000, "the file to be written to");
    s.fail();
    await waitFor(() => receivedFiles().length === 0, "the temporary file to go");

    const t = connect();
    t.send(Buffer.concat(encodeFile("half.bin", randomBytes(100_000))).subarray(0, 60_000));
    t.finish();
    expect(await answered(t, 1)).toEqual(["ERR truncated: the stream ended inside a frame; nothing of that frame was kept"]);
    await waitFor(() => receivedFiles().length === 0, "the temporary file to go");
  });
});
