/**
 * The README's walk-through, as a script runs it: `listen` and `recv` say on stderr when their port
 * is bound, and whatever is sent after that line arrives. Without --json, as people run them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "./cluster.ts";
import { readmeWalk } from "./readme-walk.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

describe("listen and recv in the background", () => {
  it("say when they are bound, and receive what is sent after", async () => {
    const [aName, bName] = [`ready-a-${process.pid}`, `ready-b-${process.pid}`];
    const a = await cluster.daemon("ready-a", "--hostname", aName);
    const b = await cluster.daemon("ready-b", "--hostname", bName);
    await readmeWalk(a, aName, b, bName);
  }, 120_000);

  it("listen without --count prints each datagram as a JSON line until it is stopped, then exits 0", async () => {
    const [aName, bName] = [`lines-a-${process.pid}`, `lines-b-${process.pid}`];
    const a = await cluster.daemon("lines-a", "--hostname", aName);
    const b = await cluster.daemon("lines-b", "--hostname", bName);
    await a.run("handshake", bName, "want to collaborate");
    await b.run("handshake", aName, "want to collaborate");
    const datagrams = b.background("listen", "1001");
    expect(await datagrams.ready).toBe("listening for datagrams on port 1001");
    await a.run("send-datagram", String(b.nodeId), "1001", "--data", "hello");
    expect(JSON.parse(await datagrams.firstLine)).toMatchObject({ node_id: a.nodeId, src_addr: expect.stringMatching(/^0:0000\./), data: "hello", bytes: 5 });
    datagrams.child.kill("SIGINT");
    await datagrams.exited;
    expect(datagrams.child.exitCode).toBe(0);
  }, 120_000);
});
