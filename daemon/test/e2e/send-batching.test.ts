/**
 * The daemon's process sends datagrams in batches (src/send-batching.ts): `daemon start`,
 * `daemon start --foreground` and `pilot-daemon` each end up in a process that runs with the option,
 * under the process ID they report; PILOT_SEND_BATCHING=off leaves it sending one by one, saying
 * why, even with the option given to Node by hand (it restarts without it, or refuses to start);
 * package.test.ts has Node 20, which cannot batch; a daemon of each kind moves a stream with
 * the other intact; and a stopping daemon's queued RSTs all leave.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BATCHING_OPTION } from "../../src/send-batching.ts";
import { Pilot } from "../../src/sdk/pilot.ts";
import { befriend, SLOW_TEST_MS, waitFor, within } from "../wait.ts";
import { background, CHECKOUT_PILOTCTL, Cluster, pilotctl, withEnv } from "./cluster.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop());

const PORT = 4100;
const PILOT_DAEMON = fileURLToPath(new URL("../../bin/pilot-daemon.js", import.meta.url));
const freshHome = () => mkdtempSync(join(tmpdir(), "pilot-batch-"));

/** The Node options of a running process (those before its script), as the kernel holds its command line. */
function nodeOptionsOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(1);
  return argv.slice(0, argv.findIndex((a) => !a.startsWith("--")));
}

describe("sending datagrams in batches", () => {
  it("a daemon pilotctl starts runs with the option, under the process ID it reported", async () => {
    const d = await cluster.daemon("batch-start");
    expect(nodeOptionsOf(d.pid)).toContain(BATCHING_OPTION);
    expect(await d.call("info")).toMatchObject({ send_batching: true });
    expect((await d.run("daemon", "status"))["pid"]).toBe(d.pid);
    expect(readFileSync(`${d.home}/pilot.log`, "utf8")).not.toContain("one by one");
  }, SLOW_TEST_MS);

  /**
   * Runs the daemon as a service manager does: the process it starts becomes the daemon. Once it
   * answers, `check` gets its info, the process ID status reports and the one started, and its
   * first log line.
   */
  async function inPlace(command: string[], args: string[], check: (info: Record<string, unknown>, pids: { status: number; started: number }, firstLine: string) => void): Promise<void> {
    const home = freshHome();
    const fg = background(home, [...args, "--registry", cluster.registry.url, "--stun", "off", "--listen", "127.0.0.1:0"], command);
    try {
      let info: Record<string, unknown> = {};
      // Each look is a pilotctl process: a quarter of a second apart.
      await waitFor(async () => ({ data: info } = await pilotctl(home, ["info"])).data["node_id"] !== undefined, "the daemon to answer", 30_000, 250);
      check(info, { status: (await pilotctl(home, ["daemon", "status"])).data["pid"], started: fg.child.pid! }, await fg.ready);
    } finally {
      fg.child.kill("SIGTERM");
      await fg.exited;
      rmSync(home, { recursive: true, force: true });
    }
  }

  const IN_PLACE: [string, string[], string[]][] = [
    ["pilotctl daemon start --foreground", CHECKOUT_PILOTCTL, ["daemon", "start", "--foreground"]],
    ["pilot-daemon run directly", [process.execPath, PILOT_DAEMON], []],
  ];
  it.each(IN_PLACE)("%s restarts itself with the option, keeping its process ID", async (_, command, args) => {
    await inPlace(command, args, (info, pids) => {
      expect(info).toMatchObject({ send_batching: true });
      // The process status reports is the one started: restarted in place, not a child.
      expect(pids.status).toBe(pids.started);
      expect(nodeOptionsOf(pids.started)).toContain(BATCHING_OPTION);
    });
  }, SLOW_TEST_MS);

  it("a process marked as restarted already is not restarted again: it sends one by one and says why", async () => {
    await withEnv({ PILOT_SEND_BATCHING_RESTARTED: "1" }, () =>
      inPlace([process.execPath, PILOT_DAEMON], [], (info, pids, firstLine) => {
        expect(info).toMatchObject({ send_batching: false });
        expect(pids.status).toBe(pids.started);
        expect(nodeOptionsOf(pids.started)).not.toContain(BATCHING_OPTION);
        expect(firstLine).toContain("sending datagrams one by one: the process was not started with --test-udp-no-try-send");
      }),
    );
  }, SLOW_TEST_MS);

  // Node's option passed by hand, as a service file might: the daemon's own gates still decide.
  const BY_HAND = [process.execPath, BATCHING_OPTION, PILOT_DAEMON];

  it("pilot-daemon started with the option by hand while PILOT_SEND_BATCHING is off restarts itself without it: the setting wins", async () => {
    await withEnv({ PILOT_SEND_BATCHING: "off" }, () =>
      inPlace(BY_HAND, [], (info, pids, firstLine) => {
        expect(info).toMatchObject({ send_batching: false });
        expect(pids.status).toBe(pids.started);
        expect(nodeOptionsOf(pids.started)).not.toContain(BATCHING_OPTION);
        expect(firstLine).toContain("sending datagrams one by one: PILOT_SEND_BATCHING is off");
      }),
    );
  }, SLOW_TEST_MS);

  it("where it cannot restart (marked as restarted already), it refuses to start with invalid_argument, naming the option to drop", async () => {
    const home = freshHome();
    const run = await withEnv({ PILOT_SEND_BATCHING: "off", PILOT_SEND_BATCHING_RESTARTED: "1" }, async () =>
      background(home, ["--registry", cluster.registry.url, "--stun", "off", "--listen", "127.0.0.1:0"], BY_HAND),
    );
    try {
      await within("the refused start to exit", run.exited, 30_000);
      expect(run.child.exitCode).toBe(1);
      const stderr = await run.ready.catch((e: Error) => e.message);
      expect(stderr).toContain("invalid_argument");
      expect(stderr).toContain(`started with ${BATCHING_OPTION}, but PILOT_SEND_BATCHING is off`);
      expect(stderr).toContain(`start it without ${BATCHING_OPTION}`);
      // Refused before anything was made.
      expect(existsSync(join(home, "config.json"))).toBe(false);
      expect(existsSync(join(home, "identity.json"))).toBe(false);
    } finally {
      run.child.kill();
      await run.exited;
      rmSync(home, { recursive: true, force: true });
    }
  }, SLOW_TEST_MS);

  it("PILOT_SEND_BATCHING=off sends one by one, says so in the log, and a stream to a batching daemon and back arrives intact", async () => {
    const plain = await withEnv({ PILOT_SEND_BATCHING: "off" }, () => cluster.daemon("batch-off"));
    const batching = await cluster.daemon("batch-on");
    expect(nodeOptionsOf(plain.pid)).not.toContain(BATCHING_OPTION);
    expect(await plain.call("info")).toMatchObject({ send_batching: false });
    expect(readFileSync(`${plain.home}/pilot.log`, "utf8")).toContain("sending datagrams one by one: PILOT_SEND_BATCHING is off");
    await befriend(plain, batching, "send batching test");
    // Through the peer's echo: each way is one daemon's sends in bursts.
    for (const [from, to] of [[plain, batching], [batching, plain]] as const) {
      const r = await from.run("bench", String(to.nodeId), "8");
      expect(r).toMatchObject({ verified: true, sent_bytes: 8 << 20, recv_bytes: 8 << 20 });
    }
  }, SLOW_TEST_MS);

  it("a stopping daemon's resets, queued in one turn, all leave before its socket closes: each connection to it hears connection_reset at once", async () => {
    const [a, b] = [await cluster.daemon("batch-stop-a"), await cluster.daemon("batch-stop-b")];
    expect(await b.call("info")).toMatchObject({ send_batching: true });
    await befriend(a, b, "send batching test");
    const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    try {
      await pb.listen(PORT, (conn) => conn.on("error", () => undefined));
      // Eight connections: B's stop sends eight RSTs in one turn, the first at once and the rest queued.
      const conns = await Promise.all(Array.from({ length: 8 }, () => pa.dial(b.nodeId, PORT)));
      const failed = conns.map((c) => new Promise<unknown>((resolve) => c.on("error", resolve)));
      await b.stop();
      // Only a RST brings connection_reset this soon: A's connections are idle, and would learn of a
      // lost peer only by timeouts, a minute or more later.
      const errors = await within("every connection to B to fail", Promise.all(failed), 30_000);
      expect(errors).toEqual(conns.map(() => expect.objectContaining({ code: "connection_reset" })));
    } finally {
      pa.close();
      pb.close();
    }
  }, SLOW_TEST_MS);

  it.each(["yes", "", "OFF", "0"])("a daemon refuses PILOT_SEND_BATCHING=%j, saying what it may be, and nothing runs", async (bad) => {
    const home = freshHome();
    try {
      const r = await pilotctl(home, ["daemon", "start", "--registry", cluster.registry.url, "--stun", "off", "--listen", "127.0.0.1:0"], { env: { PILOT_SEND_BATCHING: bad } });
      expect(r.error).toMatchObject({
        code: "invalid_argument",
        message: expect.stringContaining(`PILOT_SEND_BATCHING must be on or off, not ${JSON.stringify(bad)}`),
        hint: expect.stringContaining("set it to off"),
      });
      expect((await pilotctl(home, ["daemon", "status"])).data).toMatchObject({ running: false });
      expect(existsSync(join(home, "config.json"))).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, SLOW_TEST_MS);
});
