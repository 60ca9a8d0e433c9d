/**
 * The README's walk-through between two running daemons, as a script runs it: crossing handshakes
 * approve each other; `listen` and `recv` say on stderr when their port is bound, and whatever is
 * sent after that line arrives, a datagram and a stream.
 */
import { expect } from "vitest";
import type { Daemon } from "./cluster.ts";

/** Walks `a` and `b` (started with these hostnames) through it, asserting each step. */
export async function readmeWalk(a: Daemon, aHostname: string, b: Daemon, bHostname: string): Promise<void> {
  await a.run("handshake", bHostname, "want to collaborate");
  expect(await b.run("handshake", aHostname, "want to collaborate")).toMatchObject({ status: "approved" });

  const datagrams = b.background("listen", "1001", "--count", "1");
  expect(await datagrams.ready).toBe("listening for datagrams on port 1001");
  await a.run("send-datagram", String(b.nodeId), "1001", "--data", "hello");
  expect(await datagrams.done()).toMatchObject({ port: 1001, messages: [{ node_id: a.nodeId, data: "hello" }], timeout: false });

  const streams = b.background("recv", "1000");
  expect(await streams.ready).toBe("listening for streams on port 1000");
  await a.run("send", String(b.nodeId), "1000", "--data", "hello over a stream");
  expect(await streams.done()).toMatchObject({ messages: [{ node_id: a.nodeId, data: "hello over a stream" }], timeout: false });
}
