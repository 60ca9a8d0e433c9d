/**
 * The built-in data exchange (port 1001) and event stream (port 1002) between real daemon
 * processes, through the command bodies pilotctl runs (cli/messages.ts, cli/events.ts): messages
 * arrive in the inbox with their fields, a file arrives byte for byte, events reach a subscriber
 * on another node's broker and never their publisher; bad frames are refused over the wire; and a
 * peer the node does not allow gets no answer at all on either port.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress } from "@pilot/protocol";
import { inbox, received, sendFile, sendMessage } from "../../src/cli/messages.ts";
import { publish, subscribe, subscribeLines } from "../../src/cli/events.ts";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { DATA_EXCHANGE_PORT, dataFrameDecoder, encodeDataFrame, FRAME_TYPE, MAX_FRAME } from "../../src/services/data-frames.ts";
import { encodeEvent, EVENT_STREAM_PORT, eventDecoder } from "../../src/services/event-frames.ts";
import type { FrameDecoder } from "../../src/services/frame-decoder.ts";
import { FLAG, PROTOCOL, type Packet } from "../../src/wire/packet.ts";
import { sackHeader } from "../../src/wire/segment.ts";
import { befriend, SLOW_TEST_MS, waitFor } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { impersonate } from "./rogue.ts";

const cluster = new Cluster();
let a: Daemon;
let b: Daemon;
let c: Daemon;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "pilot-services-"));
  await cluster.start();
  [a, b, c] = [await cluster.daemon("svc-a"), await cluster.daemon("svc-b", "--hostname", "services-b"), await cluster.daemon("svc-c")];
  await befriend(a, b, "services test");
  await befriend(c, b, "services test");
}, SLOW_TEST_MS);
afterAll(async () => {
  await cluster.stop();
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** Whole frames as they arrive on an SDK connection. */
function frames<Head>(conn: PilotConnection, decoder: FrameDecoder<Head>) {
  const got: { head: Head; payload: string }[] = [];
  let head: Head | undefined;
  let pieces: Buffer[] = [];
  conn.on("data", (chunk: Buffer) => {
    for (const e of decoder.push(chunk)) {
      if (e.kind === "head") [head, pieces] = [e.head, []];
      else if (e.kind === "data") pieces.push(e.bytes);
      else if (e.kind === "end") got.push({ head: head!, payload: Buffer.concat(pieces).toString() });
    }
  });
  return got;
}

describe("the data exchange", () => {
  it("delivers text, JSON and binary messages to the peer's inbox with their fields", async () => {
    const sent = [
      await sendMessage("services-b", Buffer.from("hello from A"), "text", { home: a.home }),
      await sendMessage(String(b.nodeId), Buffer.from('{"task":"summarise","pages":[1,2]}'), "json", { home: a.home }),
      await sendMessage(String(b.nodeId), Buffer.from([0, 1, 254, 255]), "binary", { home: a.home }),
    ];
    expect(sent).toEqual([
      { target: "services-b", type: "text", bytes: 12, ack: "ACK TEXT 12 bytes" },
      { target: String(b.nodeId), type: "json", bytes: 34, ack: "ACK JSON 34 bytes" },
      { target: String(b.nodeId), type: "binary", bytes: 4, ack: "ACK BINARY 4 bytes" },
    ]);
    const box = inbox({ home: b.home });
    if (!("messages" in box)) throw new Error("a listing was expected");
    expect(box.total).toBe(3);
    expect(box.dir).toBe(join(b.home, "inbox"));
    const from = formatAddress({ network: 0, node: a.nodeId });
    const received_at = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect([...box.messages].sort((x, y) => (x.type < y.type ? -1 : 1))).toEqual([
      { type: "BINARY", from, data: Buffer.from([0, 1, 254, 255]).toString("base64"), bytes: 4, received_at },
      { type: "JSON", from, data: '{"task":"summarise","pages":[1,2]}', bytes: 34, received_at },
      { type: "TEXT", from, data: "hello from A", bytes: 12, received_at },
    ]);
    expect(inbox({ home: b.home, clear: true })).toEqual({ cleared: 3 });
    expect(inbox({ home: b.home })).toEqual({ messages: [], total: 0, dir: join(b.home, "inbox") });
  }, SLOW_TEST_MS);

  it("delivers a file byte for byte to the peer's received/, and a second of the same name beside it", async () => {
    const data = randomBytes(3 << 20);
    const path = join(scratch, "payload.bin");
    writeFileSync(path, data);
    const address = formatAddress({ network: 0, node: b.nodeId });
    expect(await sendFile("services-b", path, { home: a.home })).toEqual({ filename: "payload.bin", bytes: data.length, destination: address, ack: `ACK FILE ${data.length} bytes` });
    expect((await sendFile(String(b.nodeId), path, { home: c.home })).ack).toBe(`ACK FILE ${data.length} bytes`);
    const listing = received({ home: b.home });
    if (!("files" in listing)) throw new Error("a listing was expected");
    expect(listing.files.map((f) => [f.name, f.bytes])).toEqual([
      ["payload.bin", data.length],
      ["payload-1.bin", data.length],
    ]);
    for (const f of listing.files) expect(sha(readFileSync(f.path))).toBe(sha(data));
    expect(received({ home: b.home, clear: true })).toEqual({ cleared: 2 });
  }, SLOW_TEST_MS);

  it("refuses bad input before sending: JSON that is not JSON, a file that is not a plain name or too large", async () => {
    await expect(sendMessage(String(b.nodeId), Buffer.from("{oops"), "json", { home: a.home })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(sendMessage(String(b.nodeId), Buffer.alloc(MAX_FRAME + 1), "binary", { home: a.home })).rejects.toMatchObject({ code: "too_large" });
    const hidden = join(scratch, ".env");
    writeFileSync(hidden, "SECRET=1");
    await expect(sendFile(String(b.nodeId), hidden, { home: a.home })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(sendFile(String(b.nodeId), scratch, { home: a.home })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(sendFile(String(b.nodeId), join(scratch, "missing"), { home: a.home })).rejects.toMatchObject({ code: "not_found" });
  }, SLOW_TEST_MS);

  it("answers a peer's bad frames over the wire with ERR, saving nothing, and serves the next", async () => {
    const pilot = await Pilot.connect(a.home);
    const conn = await pilot.dial(b.nodeId, DATA_EXCHANGE_PORT);
    const answers = frames(conn, dataFrameDecoder());
    const file = (name: string) => {
      const bytes = Buffer.from(name);
      const header = Buffer.alloc(2);
      header.writeUInt16BE(bytes.length);
      return Buffer.concat(encodeDataFrame(FRAME_TYPE.file, Buffer.concat([header, bytes, Buffer.from("payload")])));
    };
    conn.write(Buffer.concat([file("../../escaped"), file("/tmp/absolute"), ...encodeDataFrame(FRAME_TYPE.json, Buffer.from("not json")), ...encodeDataFrame(42, Buffer.from("?")), ...encodeDataFrame(FRAME_TYPE.text, Buffer.from("fine"))]));
    await waitFor(() => answers.length === 5, "five answers");
    expect(answers.map((x) => x.payload.split(":")[0])).toEqual(["ERR invalid_file_name", "ERR invalid_file_name", "ERR invalid_json", "ERR unknown_type", "ACK TEXT 4 bytes"]);
    // An oversized length is answered, and the service ends its side.
    const header = Buffer.alloc(8);
    header.writeUInt32BE(FRAME_TYPE.text, 0);
    header.writeUInt32BE(0xffffffff, 4);
    conn.write(header);
    const ended = new Promise((resolve) => conn.once("end", resolve));
    await ended;
    expect(answers.at(-1)!.payload).toBe(`ERR frame_too_large: a frame of ${0xffffffff} bytes is over the ${MAX_FRAME}-byte limit`);
    conn.destroy();
    pilot.close();
    expect(readdirSync(b.home).filter((n) => !["identity.json", "config.json", "trust.json", "registry-keys.json", "pilot.sock", "pilot.pid", "pilot.log"].includes(n)).sort()).toEqual(["inbox", "received"]);
    expect(readdirSync(join(b.home, "received"))).toEqual([]);
    expect((inbox({ home: b.home }) as { messages: { data: string }[] }).messages.map((m) => m.data)).toEqual(["fine"]);
    inbox({ home: b.home, clear: true });
  }, SLOW_TEST_MS);
});

describe("the event stream", () => {
  it("carries an event published by A on B's broker to C's subscription, and not back to A", async () => {
    // C subscribes on B's broker, printing lines as `pilotctl subscribe` without --count does.
    const lines: string[] = [];
    const stop = new AbortController();
    const streaming = subscribeLines("services-b", "alerts", (line) => lines.push(line), stop.signal, { home: c.home });
    // The subscription is in place once a probe published after it arrives.
    for (let i = 0; lines.length === 0; i++) {
      await publish(String(b.nodeId), "alerts", Buffer.from(`probe ${i}`), { home: a.home });
      await new Promise((r) => setTimeout(r, 50));
    }
    lines.length = 0;

    // A subscribes to the topic on a connection of its own, and publishes on it.
    const pilot = await Pilot.connect(a.home);
    const own = await pilot.dial(b.nodeId, EVENT_STREAM_PORT);
    const ownEvents = frames(own, eventDecoder());
    own.write(Buffer.concat(encodeEvent("alerts", Buffer.alloc(0))));
    own.write(Buffer.concat(encodeEvent("alerts", Buffer.from("disk full on A"))));
    await waitFor(() => lines.length === 1, "C to get A's event");
    expect(JSON.parse(lines[0]!)).toEqual({ topic: "alerts", data: "disk full on A", bytes: 14 });

    // C publishes next, through publish's own connection: A's subscription gets that event, and it is
    // the first it gets, so the broker never sent A its own.
    expect(await publish("services-b", "alerts", Buffer.from("from C"), { home: c.home })).toEqual({ target: "services-b", topic: "alerts", bytes: 6 });
    await waitFor(() => ownEvents.length === 1, "A's subscription to get C's event");
    expect(ownEvents.map((e) => [e.head.topic, e.payload])).toEqual([["alerts", "from C"]]);
    await waitFor(() => lines.length === 2, "C's own subscription to get it too");

    stop.abort();
    await streaming;
    own.destroy();
    pilot.close();
  }, SLOW_TEST_MS);

  it("subscribe --count collects events in order with their fields, and reports a timeout with what came", async () => {
    const collecting = subscribe(String(b.nodeId), "*", { count: 3, seconds: 60, home: c.home });
    let settled = false;
    void collecting.finally(() => (settled = true));
    // Publishes until three have reached the subscription, which only then is known to be in place.
    for (let i = 0; !settled; i++) {
      await publish(String(b.nodeId), `topic-${i}`, Buffer.from(`event ${i}`), { home: a.home });
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = await collecting;
    expect(got.timeout).toBe(false);
    expect(got.events).toHaveLength(3);
    const first = Number(got.events[0]!.topic.slice("topic-".length));
    expect(got.events).toEqual([0, 1, 2].map((k) => ({ topic: `topic-${first + k}`, data: `event ${first + k}`, bytes: `event ${first + k}`.length })));

    expect(await subscribe(String(b.nodeId), "quiet", { count: 1, seconds: 1, home: c.home })).toEqual({ events: [], timeout: true });
  }, SLOW_TEST_MS);

  it("refuses a bad topic before connecting, and a broker resets a connection that sends one", async () => {
    await expect(publish(String(b.nodeId), "", Buffer.from("x"), { home: a.home })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(subscribe(String(b.nodeId), "t".repeat(1025), { count: 1, home: a.home })).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(publish(String(b.nodeId), "bell\u0007", Buffer.from("x"), { home: a.home })).rejects.toMatchObject({ code: "invalid_argument" });
    const pilot = await Pilot.connect(a.home);
    const conn = await pilot.dial(b.nodeId, EVENT_STREAM_PORT);
    const failed = new Promise<Error>((resolve) => conn.once("error", resolve));
    conn.write(Buffer.concat([Buffer.from([0, 3]), Buffer.from("a\0b"), Buffer.alloc(4)]));
    expect(await failed).toMatchObject({ code: "connection_reset" });
    pilot.close();
  }, SLOW_TEST_MS);
});

describe("who may reach the services", () => {
  it("a node with no relation to B cannot find it to send", async () => {
    const stranger = await cluster.daemon("svc-stranger");
    await expect(sendMessage(String(b.nodeId), Buffer.from("hi"), "text", { home: stranger.home })).rejects.toMatchObject({ code: "not_found" });
    await expect(publish(String(b.nodeId), "t", Buffer.from("hi"), { home: stranger.home })).rejects.toMatchObject({ code: "not_found" });
  }, SLOW_TEST_MS);

  it("a peer B no longer allows gets no answer at all on 1001 and 1002, even through a tunnel it kept", async () => {
    const e = await cluster.daemon("svc-e");
    await befriend(e, b, "services test");
    const packets: Packet[] = [];
    // A client with E's key that keeps its tunnel whatever B decides.
    const rogue = await impersonate(cluster.registry.url, e, (_, packet) => packets.push(packet));
    await rogue.open(b.nodeId);
    let port = 40_000;
    const syn = (dstPort: number) => rogue.send(b.nodeId, { flags: FLAG.syn, protocol: PROTOCOL.stream, srcPort: port++, dstPort, seq: 1000, ack: 0, window: 64, payload: [sackHeader([]), Buffer.alloc(0)] });

    // While E is trusted, both services answer a SYN.
    await syn(DATA_EXCHANGE_PORT);
    await syn(EVENT_STREAM_PORT);
    await waitFor(() => packets.length >= 2, "B to answer both SYNs");
    expect(packets.slice(0, 2).map((p) => [p.srcPort, p.flags & (FLAG.syn | FLAG.ack)])).toEqual([
      [DATA_EXCHANGE_PORT, FLAG.syn | FLAG.ack],
      [EVENT_STREAM_PORT, FLAG.syn | FLAG.ack],
    ]);

    // B ends the trust: the same SYNs, and a whole frame, through the same tunnel draw nothing.
    await b.run("untrust", String(e.nodeId));
    await waitFor(async () => !(await b.call("info")).peers.some((p) => p.node_id === e.nodeId), "B to cut E off");
    const answered = packets.length;
    const dropped = (await b.run("info"))["packets"]["dropped"] as number;
    await Promise.resolve(syn(DATA_EXCHANGE_PORT)).catch(() => undefined);
    await Promise.resolve(syn(EVENT_STREAM_PORT)).catch(() => undefined);
    await waitFor(async () => (await b.call("info")).packets.dropped >= dropped + 2, "B to drop both");
    // B handled both by dropping them: nothing was answered.
    expect(packets.length).toBe(answered);
    expect(readdirSync(join(b.home, "inbox"))).toEqual([]);
    rogue.close();
  }, SLOW_TEST_MS);
});
