/** The datagram port table, without tunnels. */
import { describe, expect, it } from "vitest";
import { Datagrams } from "../src/dataplane/datagrams.ts";
import type { DatagramIn } from "../src/dataplane/datagrams.ts";

const arriving = (dstPort: number, text: string): DatagramIn => ({ from: 5, srcPort: 9, dstPort, payload: Buffer.from(text) });

describe("datagram ports", () => {
  it("hand each datagram to every listener on its port, and to nobody once they stop", () => {
    const datagrams = new Datagrams(async () => undefined);
    const [first, second, other]: [string[], string[], string[]] = [[], [], []];
    const stopFirst = datagrams.listen(7, (d) => first.push(d.payload.toString()));
    const stopSecond = datagrams.listen(7, (d) => second.push(d.payload.toString()));
    datagrams.listen(8, (d) => other.push(d.payload.toString()));
    datagrams.receive(arriving(7, "both"));
    stopFirst();
    datagrams.receive(arriving(7, "second only"));
    stopSecond();
    datagrams.receive(arriving(7, "nobody"));
    datagrams.receive(arriving(9, "no such port"));
    expect([first, second, other]).toEqual([["both"], ["both", "second only"], []]);
  });

  it("send from the given source port, or an ephemeral one", async () => {
    const sent: number[][] = [];
    const datagrams = new Datagrams(async (peer, srcPort, dstPort) => void sent.push([peer, srcPort, dstPort]));
    await datagrams.send(5, 1001, Buffer.from("a"), 4000);
    await datagrams.send(5, 1001, Buffer.from("b"));
    expect(sent[0]).toEqual([5, 4000, 1001]);
    expect(sent[1]![1]).toBeGreaterThanOrEqual(49152);
    expect(sent[1]![1]).toBeLessThanOrEqual(65535);
  });
});
