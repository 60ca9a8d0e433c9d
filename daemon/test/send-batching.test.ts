import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PilotError } from "../src/errors.ts";
import { acceptsOption, BATCHING_OPTION, oneByOne, whyNotBatching, type NodeRuntime } from "../src/send-batching.ts";

const able: NodeRuntime = { uv: "1.51.0", execve: true, knowsOption: () => true };

describe("whether a daemon process can send in batches", () => {
  it("can on libuv 1.50 or later with process.execve and the option known, unless PILOT_SEND_BATCHING is off", () => {
    for (const uv of ["1.50.0", "1.51.0", "1.100.2", "2.0.0"]) expect(whyNotBatching({}, { ...able, uv })).toBeNull();
    expect(whyNotBatching({ PILOT_SEND_BATCHING: "on" }, able)).toBeNull();
    expect(whyNotBatching({ PILOT_SEND_BATCHING: "off" }, able)).toBe("PILOT_SEND_BATCHING is off");
  });

  it("cannot on an older libuv, where one refused datagram fails the batch around it", () => {
    for (const uv of ["1.49.2", "1.46.0", "0.99.0", "garbage"]) expect(whyNotBatching({}, { ...able, uv })).toMatch(/libuv .*1\.50 or later/);
  });

  it("cannot without process.execve, or where Node no longer knows the option (asked last: it starts a process)", () => {
    let asked = 0;
    const counting = { ...able, knowsOption: () => (asked++, false) };
    expect(whyNotBatching({}, { ...counting, execve: false })).toMatch(/process\.execve/);
    expect(whyNotBatching({}, { ...counting, uv: "1.46.0" })).toMatch(/libuv/);
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
    expect(oneByOne({ PILOT_SEND_BATCHING: "off" })).toBe("PILOT_SEND_BATCHING is off");
    expect(oneByOne({})).toBe(whyNotBatching({}) ?? `the process was not restarted with ${BATCHING_OPTION}`);
  });

  it("refuses a bad PILOT_SEND_BATCHING with invalid_argument", () => {
    expect(() => oneByOne({ PILOT_SEND_BATCHING: "maybe" })).toThrow(PilotError);
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
