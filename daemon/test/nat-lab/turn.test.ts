/**
 * TURN through the lab's NATs: an agent behind a symmetric NAT gets credentials from the registry's
 * route, allocates on the internet host's TURN server (coturn) through its NAT, and exchanges
 * datagrams with a plain UDP program behind another symmetric NAT through the relayed address, by
 * Send and Data indications and by ChannelData. The routers' counters show that every datagram went
 * to or came from the TURN server's address, and none router to router, where a hole punch between
 * the same two NATs fails (lab.test.ts). The TURN side is the daemon's client in a small program
 * (turn-peer.ts), not a daemon. Then real daemons behind the same kind of NATs: their tunnel takes
 * TURN, not the registry's WebSocket relay (which the other scenarios use, in a lab without TURN),
 * and one that stops resets its connections over TURN before it gives up its allocation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../wait.ts";
import { INTERNET, NatLab } from "./lab.ts";
import { TurnPeer } from "./turn-peer-driver.ts";
import type { UdpPeer } from "./udp-peer-driver.ts";
import { coturnUnavailable } from "../turn/coturn.ts";
import { Pilot } from "../../src/sdk/pilot.ts";
import { MiB } from "../e2e/transfer.ts";
import { ALL_ANSWERED, datagram, members, pathTo, ping, resetsWhenStopped, stream } from "./scenario-kit.ts";

const unavailable = (await NatLab.unavailable()) ?? (await coturnUnavailable());
if (unavailable) console.warn(`NAT lab TURN test skipped: ${unavailable}`);

const TEST_MS = 180_000;

describe.skipIf(unavailable !== undefined)("TURN in the NAT lab", () => {
  let lab: NatLab;
  let registryUrl: string;
  let turnServer: string;
  const programs: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    lab = await NatLab.create({ turn: true });
    const host = await lab.internetHost();
    registryUrl = host.registryUrl;
    turnServer = host.turn!;
  }, 240_000);
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.stop()));
    await lab?.close();
  }, 120_000);

  it("relays between two agents behind symmetric NATs, with credentials from the registry, and every datagram goes by the TURN server", async () => {
    const [h1, h2] = [await lab.home("turn1", { nat: "fully-random" }), await lab.home("turn2", { nat: "fully-random" })];
    const [a, b] = [await h1.agent("turn1a"), await h2.agent("turn2a")];
    const ta = await TurnPeer.start(a.spawn, registryUrl);
    programs.push(ta);
    const pb: UdpPeer = await b.udp();
    programs.push(pb);

    // The registry's route handed out the TURN server's UDP URL alone, and the allocation went through
    // home 1's NAT: the server saw the router's public address.
    const allocation = await ta.allocate();
    expect(allocation.urls).toEqual([`turn:${turnServer}?transport=udp`]);
    expect(allocation.relayed.startsWith(`${INTERNET.ipv4}:`)).toBe(true);
    expect(allocation.mapped.startsWith(`${h1.wan.ipv4}:`)).toBe(true);

    // b's symmetric NAT gives its flow to the relay a port nobody can predict; a permission is by
    // address alone, so a permits b's router and b's datagrams get in whatever the port.
    await ta.permit(h2.wan.ipv4);
    await pb.send(allocation.relayed, "hello through TURN");
    const first = await ta.waitForReceived((r) => r.data === "hello through TURN", "b's datagram through the relay");
    expect(first.from.startsWith(`${h2.wan.ipv4}:`)).toBe(true);
    expect(first.kind).toBe("indication");

    // The answer leaves the relayed address for the very address and port b's NAT mapped, so it is
    // let in as part of b's own flow.
    expect(await ta.send(first.from, "answer by Send indication")).toBe(true);
    await pb.waitForReceived((r) => r.data === "answer by Send indication" && r.from === allocation.relayed, "the answer at b, from the relayed address");

    await ta.bind(first.from);
    expect(await ta.send(first.from, "answer on a channel")).toBe(true);
    await pb.waitForReceived((r) => r.data === "answer on a channel" && r.from === allocation.relayed, "ChannelData's payload at b");
    await pb.send(allocation.relayed, "back on the channel");
    const back = await ta.waitForReceived((r) => r.data === "back on the channel", "b's datagram as ChannelData");
    expect(back).toEqual({ from: first.from, data: "back on the channel", kind: "channel" });

    // By the routers' counters: UDP went out to, and came in from, the TURN server's address only.
    for (const [home, other] of [[h1, h2], [h2, h1]] as const) {
      expect([...(await home.router.sentTo()).keys()]).toEqual([INTERNET.ipv4]);
      expect([...(await home.router.receivedFrom()).keys()]).toEqual([INTERNET.ipv4]);
      expect((await home.router.countTo(INTERNET.ipv4)).packets).toBeGreaterThanOrEqual(2);
      expect((await home.router.countFrom(INTERNET.ipv4)).packets).toBeGreaterThanOrEqual(2);
      expect((await home.router.countTo(other.wan.ipv4)).packets).toBe(0);
    }
  }, TEST_MS);

  it("carries two daemons behind symmetric NATs over TURN, preferred to the WebSocket relay: pings, datagrams, and a 16 MiB stream each way, intact", async () => {
    const [h1, h2] = [await lab.home("tsym1", { nat: "fully-random" }), await lab.home("tsym2", { nat: "fully-random" })];
    const [dx, dy] = await members(lab, [await h1.agent("tsym-x"), "tsym-x"], [await h2.agent("tsym-y"), "tsym-y"]);
    for (const d of [dx, dy]) {
      await waitFor(async () => (await d.call("info")).turn_addr !== null, `${d.name}'s TURN allocation`, 60_000);
      expect(String((await d.run("info"))["turn_addr"]).startsWith(`${INTERNET.ipv4}:`)).toBe(true);
    }
    expect(await ping(dx, dy)).toEqual(ALL_ANSWERED);
    expect([await pathTo(dx, dy), await pathTo(dy, dx)]).toEqual(["turn", "turn"]);
    await datagram(dy, dx, "back over TURN");
    const before = [await h1.router.countTo(INTERNET.ipv4), await h2.router.countTo(INTERNET.ipv4)];
    const [px, py] = [await Pilot.connect(dx.home), await Pilot.connect(dy.home)];
    try {
      await Promise.all([stream(px, py, dy.nodeId, 16 * MiB, 61), stream(py, px, dx.nodeId, 16 * MiB, 62)]);
    } finally {
      px.close();
      py.close();
    }
    expect([await pathTo(dx, dy), await pathTo(dy, dx)]).toEqual(["turn", "turn"]);
    // The stream went out of each home as UDP to the TURN server (the relay's WebSocket is TCP), and
    // no UDP went router to router.
    const after = [await h1.router.countTo(INTERNET.ipv4), await h2.router.countTo(INTERNET.ipv4)];
    for (const i of [0, 1]) expect(after[i]!.bytes - before[i]!.bytes).toBeGreaterThan(16 * MiB);
    expect((await h1.router.countFrom(h2.wan.ipv4)).packets).toBe(0);
    expect((await h2.router.countFrom(h1.wan.ipv4)).packets).toBe(0);
    // A daemon that stops resets its connections before it gives up its TURN allocation.
    await resetsWhenStopped(dx, dy);
  }, TEST_MS);
});

