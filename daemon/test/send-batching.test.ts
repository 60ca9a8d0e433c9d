import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PilotError } from "../src/errors.ts";
import { waitFor } from "./wait.ts";
import { acceptsOption, BATCHING_OPTION, closeWhenSent, sendsInBatches, whyOneByOne, whyNotBatching, type NodeRuntime } from "../src/send-batching.ts";

const able: NodeRuntime = { uv: "1.51.0", knowsOption: () => true };

describe("whether a daemon process can send in batches", () => {
  it("can on libuv 1.50 or later with the option known, unless PILOT_SEND_BATCHING is off", () => {
    for (const uv of ["1.50.0", "1.51.0", "1.100.2", "2.0.0"]) expect(whyNotBatching({}, { ...able, uv })).toBeNull();
    expect(whyNotBatching({ PILOT_SEND_BATCHING: "on" }, able)).toBeNull();
    expect(whyNotBatching({ PILOT_SEND_BATCHING: "off" }, able)).toBe("PILOT_SEND_BATCHING is off");
  });

  it("cannot on an older libuv, where one refused datagram fails the batch around it", () => {
    for (const uv of ["1.49.2", "1.46.0", "0.99.0", "garbage"]) expect(whyNotBatching({}, { ...able, uv })).toMatch(/libuv .*1\.50 or later/);
  });

  it("cannot where Node no longer knows the option, which is asked last (it starts a process)", () => {
    let asked = 0;
    const counting = { ...able, knowsOption: () => (asked++, false) };
    expect(whyNotBatching({}, { ...counting, uv: "1.46.0" })).toMatch(/libuv/);
    expect(whyNotBatching({ PILOT_SEND_BATCHING: "off" }, counting)).toBe("PILOT_SEND_BATCHING is off");
    expect(asked).toBe(0);
    expect(whyNotBatching({}, counting)).toMatch(/no longer accepts --test-udp-no-try-send/);
    expect(asked).toBe(1);
  });

  it.each(["yes", "", "OFF", "0", "off "])("refuses PILOT_SEND_BATCHING=%j, saying what it may be", (bad) => {
    let error: unknown;
    try {
      whyNotBatching({ PILOT_SEND_BATCHING: bad }, able);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PilotError);
    expect(error).toMatchObject({ code: "invalid_argument", message: `PILOT_SEND_BATCHING must be on or off, not ${JSON.stringify(bad)}` });
  });
});

describe("what the daemon's start says of its sending", () => {
  it("in a process started without the option: why, or that it was not restarted with it", () => {
    expect(process.execArgv).not.toContain(BATCHING_OPTION);
    expect(whyOneByOne({ PILOT_SEND_BATCHING: "off" })).toBe("PILOT_SEND_BATCHING is off");
    expect(whyOneByOne({})).toBe(whyNotBatching({}) ?? `the process was not started with ${BATCHING_OPTION}`);
  });

  it("refuses a bad PILOT_SEND_BATCHING with invalid_argument", () => {
    expect(() => whyOneByOne({ PILOT_SEND_BATCHING: "maybe" })).toThrow(PilotError);
  });
});

describe("reading the option as Node reads it", () => {
  // Node's own spellings: underscores for dashes, a value after = ignored, the last of it and its
  // --no- form winning. Each is run for real: a process with those options says whether it thinks it
  // batches, and whether its Node queued three datagrams sent in one turn (batching) or sent them at once.
  const MODULE = new URL("../src/send-batching.ts", import.meta.url).href;
  const probe = [
    `import { sendsInBatches } from ${JSON.stringify(MODULE)};`,
    'import { createSocket } from "node:dgram";',
    'const s = createSocket({ type: "udp4", lookup: (host, _, cb) => cb(null, host, 4) });',
    's.bind(0, "127.0.0.1", () => {',
    '  for (let i = 0; i < 3; i++) s.send(Buffer.alloc(10), 9, "127.0.0.1");',
    "  console.log(JSON.stringify({ thinks: sendsInBatches(), queued: s.getSendQueueCount() > 0 }));",
    "  s.close();",
    "});",
  ].join("\n");
  it.each([
    [[], false],
    [["--test-udp-no-try-send"], true],
    [["--test_udp_no_try_send"], true],
    [["--test-udp_no-try_send"], true],
    [["--test-udp-no-try-send=false"], true],
    [["--no-test-udp-no-try-send"], false],
    [["--test-udp-no-try-send", "--no_test_udp_no_try_send"], false],
    [["--no-test-udp-no-try-send", "--test-udp-no-try-send"], true],
  ])("Node options %j: batching %s, as the process itself shows", (options, batching) => {
    const r = spawnSync(process.execPath, [...options, "--input-type=module", "-e", probe], { encoding: "utf8", timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ thinks: batching, queued: batching });
    expect(sendsInBatches(options)).toBe(batching);
  });
});

describe("asking a Node binary whether it knows the option", () => {
  const dir = mkdtempSync(join(tmpdir(), "pilot-node-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("this Node does", () => {
    expect(acceptsOption(process.execPath)).toBe(true);
  });

  it("one that answers as Node does an option it does not know (exit 9), or none at all, does not", () => {
    const rejecting = join(dir, "node");
    writeFileSync(rejecting, `#!/bin/sh\necho "$0: bad option: $1" >&2\nexit 9\n`);
    chmodSync(rejecting, 0o755);
    expect(acceptsOption(rejecting)).toBe(false);
    expect(acceptsOption(join(dir, "missing"))).toBe(false);
  });
});

describe("what the libuv gate stands on", () => {
  // With the option, a datagram the kernel refuses (here too large for UDP: EMSGSIZE) must fail
  // alone, not the batch it was queued in: libuv 1.50 and later, which this Node has.
  it("a refused datagram queued between two good ones fails alone: both good ones arrive", async () => {
    const receiver = createSocket("udp4");
    const arrived: number[] = [];
    receiver.on("message", (m) => arrived.push(m.length));
    receiver.bind(0, "127.0.0.1");
    await once(receiver, "listening");
    try {
      const sender = [
        'const s = require("node:dgram").createSocket("udp4");',
        's.on("error", () => {});',
        's.bind(0, "127.0.0.1", () => {',
        `  for (const n of [100, 70000, 200]) s.send(Buffer.alloc(n), ${receiver.address().port}, "127.0.0.1", () => {});`,
        "  setTimeout(() => s.close(), 200);",
        "});",
      ].join("\n");
      const r = spawnSync(process.execPath, [BATCHING_OPTION, "-e", sender], { encoding: "utf8", timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      await waitFor(() => arrived.length >= 2, "the two good datagrams", 10_000);
      expect(arrived).toEqual([100, 200]);
    } finally {
      receiver.close();
    }
  });
});

describe("closing a socket once its sends have gone", () => {
  it("closes it, and leaves one closed already, or closed meanwhile, without throwing", async () => {
    const open = createSocket("udp4");
    await closeWhenSent(open);
    expect(() => open.close()).toThrow(/Not running/);
    const closedFirst = createSocket("udp4");
    closedFirst.close();
    await closeWhenSent(closedFirst);
    const twice = createSocket("udp4");
    await Promise.all([closeWhenSent(twice), closeWhenSent(twice)]);
  });
});
