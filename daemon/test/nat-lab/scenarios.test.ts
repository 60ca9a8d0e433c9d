/**
 * Real daemons in the NAT lab, as users meet them: agents in homes behind masquerading routers,
 * agents on the internet, the registry and STUN on the internet. Which path the traffic took is
 * read from the routers' counters, not taken from the daemons' word.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PILA, PILS } from "../../src/wire/tunnel.ts";
import { Pilot } from "../../src/sdk/pilot.ts";
import type { Daemon } from "../e2e/cluster.ts";
import { MiB, pattern, readAll, sha, writeAll } from "../e2e/transfer.ts";
import { waitFor, within } from "../wait.ts";
import { INTERNET, type Agent, type Home, type NatLab } from "./lab.ts";
import type { UdpPeer } from "./udp-peer-driver.ts";
import { ALL_ANSWERED, connection, datagram, labForScenarios, labUnavailable, members, ping, routerToRouter, SCENARIO_MS } from "./scenario-kit.ts";

const RELAY_STRANGER = fileURLToPath(new URL("./relay-stranger.ts", import.meta.url));

const unavailable = await labUnavailable("NAT lab scenarios");

let lab: NatLab;

/** The UDP endpoint `d` holds for its tunnel to `peer`, as `pilotctl info` lists it. */
async function tunnelEndpoint(d: Daemon, peer: Daemon): Promise<string | undefined> {
  return (await d.run("info"))["peers"].find((p: { node_id: number }) => p.node_id === peer.nodeId)?.endpoint;
}

/** The address in `address:port` or `[v6]:port` (a bare IPv6 address has its port after the last colon). */
function hostOf(endpoint: string): string {
  const bracketed = /^\[(.+)\]:\d+$/.exec(endpoint);
  return bracketed ? bracketed[1]! : endpoint.slice(0, endpoint.lastIndexOf(":"));
}

describe.skipIf(unavailable !== undefined)("the daemon in the NAT lab", () => {
  labForScenarios((built) => (lab = built));

  describe("two agents in one network, each behind its own port-preserving NAT", () => {
    let homes: [Home, Home];
    let a: Daemon;
    let b: Daemon;
    beforeAll(async () => {
      // The same LAN prefix in both homes: a peer's LAN address names a host on one's own LAN too.
      homes = [await lab.home("home-a", { nat: "port-preserving" }), await lab.home("home-b", { nat: "port-preserving" })];
      [a, b] = await members(lab, [await homes[0].agent("agent-a"), "nat-a"], [await homes[1].agent("agent-b"), "nat-b"]);
    }, SCENARIO_MS);

    it("find each other through the registry, each at its home's public address", async () => {
      expect(await a.run("find", "nat-b")).toMatchObject({ node_id: b.nodeId });
      expect(await b.run("find", "nat-a")).toMatchObject({ node_id: a.nodeId });
      expect(hostOf((await a.run("info"))["endpoint"])).toBe(homes[0].wan.ipv4);
      expect(hostOf((await b.run("info"))["endpoint"])).toBe(homes[1].wan.ipv4);
      // Both STUN ports see one mapping: a NAT that hole punching gets through.
      expect((await a.run("info"))["nat"]).toBe("endpoint-independent");
    }, SCENARIO_MS);

    it("ping each other and exchange datagrams, router to router by the routers' counters", async () => {
      expect(await ping(a, b)).toEqual(ALL_ANSWERED);
      expect(await ping(b, a)).toEqual(ALL_ANSWERED);
      await datagram(a, b, "hello across two NATs");
      await datagram(b, a, "hello back");
      expect(hostOf((await tunnelEndpoint(a, b))!)).toBe(homes[1].wan.ipv4);
      await routerToRouter(homes[0], homes[1]);
      // What the user sees: the path, where it ends, and its round trip.
      await waitFor(async () => (await a.call("peers")).peers[0]?.rtt_ms != null, "a round trip measured");
      const [peer] = (await a.run("peers"))["peers"];
      expect(peer).toMatchObject({ node_id: b.nodeId, path: "direct", rtt_ms: expect.any(Number), path_changed_at: expect.any(String) });
      expect(hostOf(peer.endpoint)).toBe(homes[1].wan.ipv4);
    }, SCENARIO_MS);
  });

  describe("two agents behind one NAT", () => {
    it("reach each other on their LAN: the router forwards none of their tunnel traffic", async () => {
      const home = await lab.home("shared", { nat: "port-preserving" });
      const [x, y] = [await home.agent("shared-x"), await home.agent("shared-y")];
      const [dx, dy] = await members(lab, [x, "lan-x"], [y, "lan-y"]);
      expect(await ping(dx, dy)).toEqual(ALL_ANSWERED);
      await datagram(dy, dx, "hello neighbour");
      expect(hostOf((await tunnelEndpoint(dx, dy))!)).toBe(y.ipv4);
      expect(hostOf((await tunnelEndpoint(dy, dx))!)).toBe(x.ipv4);
      // The only UDP the router forwarded went to and came from the internet host (STUN).
      expect([...(await home.router.sentTo()).keys()]).toEqual([INTERNET.ipv4]);
      expect([...(await home.router.receivedFrom()).keys()]).toEqual([INTERNET.ipv4]);
    }, SCENARIO_MS);
  });

  describe("one public agent and one behind a NAT", () => {
    /** A fresh pair each time: a tunnel one test opened must not carry the next. */
    async function pair(name: string): Promise<{ home: Home; inside: Daemon; outside: Daemon; outsideAgent: Agent }> {
      const home = await lab.home(`${name}-home`, { nat: "port-preserving" });
      const outsideAgent = await lab.publicAgent(`${name}-pub`);
      const [inside, outside] = await members(lab, [await home.agent(`${name}-in`), `${name}-in`], [outsideAgent, `${name}-out`]);
      return { home, inside, outside, outsideAgent };
    }

    it("the agent behind the NAT reaches the public one, which answers on the same path", async () => {
      const { home, inside, outside, outsideAgent } = await pair("outward");
      expect((await outside.run("info"))["nat"]).toBe("none");
      expect(await ping(inside, outside)).toEqual(ALL_ANSWERED);
      await datagram(outside, inside, "answer through the mapping");
      expect(hostOf((await tunnelEndpoint(outside, inside))!)).toBe(home.wan.ipv4);
      expect((await home.router.countTo(outsideAgent.ipv4)).packets).toBeGreaterThan(0);
      expect((await home.router.countFrom(outsideAgent.ipv4)).packets).toBeGreaterThan(0);
    }, SCENARIO_MS);

    it("the public agent reaches the agent behind the NAT first", async () => {
      const { home, inside, outside, outsideAgent } = await pair("inward");
      expect(await ping(outside, inside)).toEqual(ALL_ANSWERED);
      await datagram(outside, inside, "first contact from outside");
      expect((await home.router.countFrom(outsideAgent.ipv4)).packets).toBeGreaterThan(0);
    }, SCENARIO_MS);
  });

  describe("IPv6", () => {
    it("two agents with global IPv6 addresses behind symmetric IPv4 NATs reach each other over IPv6", async () => {
      // Symmetric NAT rules IPv4 out: IPv6, routed through the homes' firewalls, is the only path.
      const [h1, h2] = [await lab.home("six-a", { nat: "fully-random" }), await lab.home("six-b", { nat: "fully-random" })];
      const [x, y] = [await h1.agent("six-x", { ipv6: true }), await h2.agent("six-y", { ipv6: true })];
      const [dx, dy] = await members(lab, [x, "six-x"], [y, "six-y"]);
      expect(await ping(dx, dy)).toEqual(ALL_ANSWERED);
      await datagram(dy, dx, "hello over IPv6");
      expect(hostOf((await tunnelEndpoint(dx, dy))!)).toBe(y.ipv6);
      expect(hostOf((await tunnelEndpoint(dy, dx))!)).toBe(x.ipv6);
      expect((await h1.router.countTo(y.ipv6!)).packets).toBeGreaterThan(0);
      expect((await h2.router.countTo(x.ipv6!)).packets).toBeGreaterThan(0);
    }, SCENARIO_MS);
  });

  describe("strangers", () => {
    let home: Home;
    let nated: Daemon;
    let open: Daemon;
    let stranger: UdpPeer;
    beforeAll(async () => {
      home = await lab.home("guarded-home", { nat: "port-preserving" });
      [nated, open] = await members(lab, [await home.agent("guarded"), "guarded"], [await lab.publicAgent("open"), "open"]);
      stranger = await (await lab.publicAgent("stranger")).udp();
    }, SCENARIO_MS);
    afterAll(() => stranger?.stop());

    /** What a member shows of itself that a stranger must not be able to change. */
    const state = async (d: Daemon) => {
      const info = await d.run("info");
      return { peers: info["peers"], connections: info["connections"], trusted: info["trusted"], received: info["packets"]["received"], networks: info["networks"] };
    };

    it("a raw UDP sender gets no answer from a NATed agent's public mapping nor from a public agent, and changes nothing", async () => {
      const before = { nated: await state(nated), open: await state(open) };
      const targets = { nated: (await nated.run("info"))["endpoint"] as string, open: (await open.run("info"))["endpoint"] as string };
      // Junk, and junk dressed as a key exchange and as a sealed frame.
      const probes = [Buffer.from("hello?"), Buffer.concat([PILA, Buffer.alloc(160, 1)]), Buffer.concat([PILS, Buffer.alloc(80, 2)])];
      const dropped = async () => ({ router: (await home.router.counters()).unsolicited.packets, open: (await open.run("info"))["packets"]["dropped"] as number });
      const start = await dropped();
      for (const probe of probes) {
        await stranger.send(targets.nated, probe, { count: 3 });
        await stranger.send(targets.open, probe, { count: 3 });
      }
      // The router dropped every probe at the NATed agent's door, and the public daemon counted each
      // of them dropped: both have handled all of it.
      await waitFor(async () => (await dropped()).router - start.router >= 3 * probes.length, "the router to drop every probe");
      await waitFor(async () => (await dropped()).open - start.open >= 3 * probes.length, "the public daemon to drop every probe");
      // A STUN request is answered by neither (a responder on a node's data port would reflect for
      // anyone). Each query waits 5 s for an answer: time enough too for any answer to the probes.
      expect(await stranger.stun(targets.nated)).toBeNull();
      expect(await stranger.stun(targets.open)).toBeNull();
      expect(stranger.received()).toEqual([]);
      expect(await state(nated)).toEqual(before.nated);
      expect(await state(open)).toEqual(before.open);
    }, SCENARIO_MS);

    it("a node outside the network finds either member as absent as a node that does not exist, and they hear nothing of it", async () => {
      const outsider = await lab.daemon(await lab.publicAgent("outsider"), "outsider");
      const before = { nated: await state(nated), open: await state(open) };
      const dropped = async () => [(await nated.run("info"))["packets"]["dropped"], (await open.run("info"))["packets"]["dropped"]];
      const droppedBefore = await dropped();
      /** What the outsider gets for a node ID, with the ID taken out so that answers can be compared. */
      const attempt = async (nodeId: number) => {
        const ping = await outsider.run("ping", String(nodeId), "--count", "1");
        const send = await outsider.ctl("send-datagram", String(nodeId), "7", "--data", "hi");
        return JSON.stringify({ ping: ping["results"], send: send.error }).replaceAll(String(nodeId), "N");
      };
      const nobody = await attempt(4_000_000_000);
      expect(nobody).toContain("not_found");
      expect(await attempt(nated.nodeId)).toBe(nobody);
      expect(await attempt(open.nodeId)).toBe(nobody);
      expect(await state(nated)).toEqual(before.nated);
      expect(await state(open)).toEqual(before.open);
      expect(await dropped()).toEqual(droppedBefore);
    }, SCENARIO_MS);

    it("a registered stranger sending frames through the relay to members gets nothing delivered and nothing back, as for a node that does not exist", async () => {
      // The control: a public node, which the relay lets anyone reach.
      const beacon = await lab.daemon(await lab.publicAgent("beacon"), "beacon");
      await beacon.run("set-public");
      const program = (await lab.publicAgent("relay-stranger")).spawn([process.execPath, RELAY_STRANGER, (await lab.internetHost()).registryUrl]);
      try {
        await program.waitFor((lines) => lines.find((l) => l.startsWith("ready ")), "the stranger's relay connection", 60_000);
        const dropped = async (d: Daemon) => (await d.run("info"))["packets"]["dropped"] as number;
        const before = { nated: await state(nated), open: await state(open), dropped: [await dropped(nated), await dropped(open)] };
        let bursts = 0;
        const burst = async (to: number) => {
          const n = ++bursts;
          program.send(JSON.stringify({ send: { to, count: 10 } }));
          await program.waitFor((lines) => (lines.filter((l) => l.includes('"sent"')).length >= n ? true : undefined), "the stranger's burst", 30_000);
        };
        for (const to of [nated.nodeId, open.nodeId, 4_000_000_000]) await burst(to);
        // The public node gets the stranger's frames (and drops them: they are junk), twice over,
        // after the bursts to the members: by then those had long gone through the relay, if at all.
        for (let round = 1; round <= 2; round++) {
          const from = await dropped(beacon);
          await burst(beacon.nodeId);
          await waitFor(async () => (await dropped(beacon)) - from >= 10, "the public node to receive the stranger's frames through the relay");
        }
        expect([await dropped(nated), await dropped(open)]).toEqual(before.dropped);
        expect(await state(nated)).toEqual(before.nated);
        expect(await state(open)).toEqual(before.open);
        expect(program.lines.filter((l) => l.includes('"heard"'))).toEqual([]);
      } finally {
        await program.stop();
      }
    }, SCENARIO_MS);
  });

  describe("roaming", () => {
    /**
     * 64 MiB from `from` to `to` over one stream, checked by SHA-256 on arrival. The reader stops
     * reading at 16 MiB and `from`'s home is renumbered while the stream is stalled on it. That
     * breaks `from`'s TCP connections to the registry too (the NAT forgot them): the reader goes on
     * only once `from` has its network's channel back in sync, so that whatever the daemon does about
     * the lost channel has happened by then. The rest of the stream must come from the new address.
     */
    async function streamThroughRenumbering(from: Daemon, fromHome: Home, to: Daemon): Promise<string> {
      const [pf, pt] = [await Pilot.connect(from.home), await Pilot.connect(to.home)];
      const errors: unknown[] = [];
      try {
        let resyncs = 0;
        await pf.events((e) => {
          if (e.type === "network_synced") resyncs++;
        });
        const data = pattern(64 * MiB, 11);
        // Errors kept, not thrown: an error after the test's end must not escape it.
        const { writer, reader } = await connection(pf, pt, to.nodeId, errors);
        const writing = writeAll(writer, data);
        let renumbered = false;
        const read = readAll(reader, 0, (bytes) => {
          if (bytes >= 16 * MiB && !renumbered) reader.pause();
        });
        await waitFor(() => reader.isPaused(), "16 MiB to arrive");
        const before = resyncs;
        const now = await fromHome.renumber();
        renumbered = true;
        await waitFor(() => resyncs > before, `${from.name}'s network channel to come back in sync`, 120_000);
        reader.resume();
        expect(await within("the rest of the stream", read, 120_000)).toEqual({ hash: sha(data), bytes: 64 * MiB });
        await writing;
        expect(errors).toEqual([]);
        return now;
      } finally {
        pf.close();
        pt.close();
      }
    }

    it("a stream from an agent behind a NAT to a public agent survives the home's renumbering, 64 MiB intact", async () => {
      const home = await lab.home("roam-home", { nat: "port-preserving" });
      const [roamer, fixed] = await members(lab, [await home.agent("roamer"), "roamer"], [await lab.publicAgent("fixed"), "fixed"]);
      const now = await streamThroughRenumbering(roamer, home, fixed);
      expect(hostOf((await tunnelEndpoint(fixed, roamer))!)).toBe(now);
    }, SCENARIO_MS);

    it("a stream between two agents behind NATs survives one home's renumbering, 64 MiB intact", async () => {
      const [h1, h2] = [await lab.home("roam-a", { nat: "port-preserving" }), await lab.home("roam-b", { nat: "port-preserving" })];
      const [roamer, fixed] = await members(lab, [await h1.agent("roam-x"), "roam-x"], [await h2.agent("roam-y"), "roam-y"]);
      const now = await streamThroughRenumbering(roamer, h1, fixed);
      expect(hostOf((await tunnelEndpoint(fixed, roamer))!)).toBe(now);
      expect((await h2.router.countFrom(now)).packets).toBeGreaterThan(0);
    }, SCENARIO_MS);
  });
});
