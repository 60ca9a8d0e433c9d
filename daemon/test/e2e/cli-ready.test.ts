/**
 * The README's walk-through, as a script runs it: `listen` and `recv` say on stderr when their port
 * is bound, and whatever is sent after that line arrives. Without --json, as people run them.
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, PILOTCTL } from "./cluster.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

/**
 * Starts a waiting command; resolves `ready` with its first stderr line, `firstLine` with its first
 * stdout line, `done()` with all its stdout as JSON once it exits.
 */
function background(home: string, args: string[]) {
  const child = spawn(process.execPath, [PILOTCTL, ...args], { env: { ...process.env, PILOT_HOME: home } });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const ready = new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (stderr.includes("\n")) resolve(stderr.split("\n")[0]!);
    });
    exited.then(() => reject(new Error(`exited before it was ready: ${stderr}`)));
  });
  const firstLine = new Promise<string>((resolve) =>
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      if (stdout.includes("\n")) resolve(stdout.split("\n")[0]!);
    }),
  );
  const done = () => exited.then(() => JSON.parse(stdout) as unknown);
  return { ready, firstLine, done, child, exited };
}

describe("listen and recv in the background", () => {
  it("say when they are bound, and receive what is sent after", async () => {
    const a = await cluster.daemon("ready-a", "--hostname", `ready-a-${process.pid}`);
    const b = await cluster.daemon("ready-b", "--hostname", `ready-b-${process.pid}`);
    await a.run("handshake", `ready-b-${process.pid}`, "want to collaborate");
    expect(await b.run("handshake", `ready-a-${process.pid}`, "want to collaborate")).toMatchObject({ status: "approved" });

    // Without --count, listen prints each datagram as a JSON line until it is stopped.
    const datagrams = background(b.home, ["listen", "1001"]);
    expect(await datagrams.ready).toBe("listening for datagrams on port 1001");
    await a.run("send-datagram", String(b.nodeId), "1001", "--data", "hello");
    expect(JSON.parse(await datagrams.firstLine)).toMatchObject({ node_id: a.nodeId, src_addr: expect.stringMatching(/^0:0000\./), data: "hello", bytes: 5 });
    datagrams.child.kill("SIGINT");
    await datagrams.exited;
    expect(datagrams.child.exitCode).toBe(0);

    const streams = background(b.home, ["recv", "1000"]);
    expect(await streams.ready).toBe("listening for streams on port 1000");
    await a.run("send", String(b.nodeId), "1000", "--data", "hello over a stream");
    expect(await streams.done()).toMatchObject({ messages: [{ node_id: a.nodeId, data: "hello over a stream" }], timeout: false });
  }, 120_000);
});
