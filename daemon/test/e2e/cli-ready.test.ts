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

/** Starts a waiting command; resolves `ready` with its first stderr line, `done` with its stdout. */
function background(home: string, args: string[]) {
  const child = spawn(process.execPath, [PILOTCTL, ...args], { env: { ...process.env, PILOT_HOME: home } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  const ready = new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (stderr.includes("\n")) resolve(stderr.split("\n")[0]!);
    });
    child.on("exit", () => reject(new Error(`exited before it was ready: ${stderr}`)));
  });
  const done = new Promise<unknown>((resolve) => child.on("exit", () => resolve(JSON.parse(stdout))));
  return { ready, done };
}

describe("listen and recv in the background", () => {
  it("say when they are bound, and receive what is sent after", async () => {
    const a = await cluster.daemon("ready-a", "--hostname", `ready-a-${process.pid}`);
    const b = await cluster.daemon("ready-b", "--hostname", `ready-b-${process.pid}`);
    await a.run("handshake", `ready-b-${process.pid}`, "want to collaborate");
    expect(await b.run("handshake", `ready-a-${process.pid}`, "want to collaborate")).toMatchObject({ status: "approved" });

    const datagrams = background(b.home, ["listen", "1001"]);
    expect(await datagrams.ready).toBe("listening for datagrams on port 1001");
    await a.run("send-datagram", String(b.nodeId), "1001", "--data", "hello");
    expect(await datagrams.done).toMatchObject({ port: 1001, messages: [{ node_id: a.nodeId, data: "hello" }], timeout: false });

    const streams = background(b.home, ["recv", "1000"]);
    expect(await streams.ready).toBe("listening for streams on port 1000");
    await a.run("send", String(b.nodeId), "1000", "--data", "hello over a stream");
    expect(await streams.done).toMatchObject({ messages: [{ node_id: a.nodeId, data: "hello over a stream" }], timeout: false });
  }, 120_000);
});
