/**
 * The NAT lab itself: that its routers behave like the NATs and firewalls they claim to be, shown
 * with plain UDP programs in the namespaces (no Pilot code), by what arrives and by the routers'
 * own counters. The daemon's scenarios (scenarios.test.ts) rest on these facts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./command.ts";
import { INTERNET, NatLab, type Agent } from "./lab.ts";
import { Namespace, newPrefix } from "./namespaces.ts";
import type { UdpPeer } from "./udp-peer-driver.ts";
import { waitFor } from "../wait.ts";

// Root, ip and nft are needed to build namespaces and NAT rules. CI runs as root and installs the
// tools (.ci/run); elsewhere the lab is skipped and says why.
const unavailable = await NatLab.unavailable();
if (unavailable) console.warn(`NAT lab skipped: ${unavailable}`);

const TEST_MS = 120_000;
/**
 * A hole punch: each side sends until it hears the other. The first datagrams are dropped at the
 * far router, whose NAT has not seen its side send yet; 5 s of sending outlasts a late start.
 */
const PUNCH = { count: 50, intervalMs: 100, untilHeard: true };
/** Bursts sent in full, for an exchange that must not get through. */
const BURST = { count: 10, intervalMs: 50 };

const at = (m: { address: string; port: number }) => (m.address.includes(":") ? `[${m.address}]:${m.port}` : `${m.address}:${m.port}`);

describe.skipIf(unavailable !== undefined)("the NAT lab", () => {
  let lab: NatLab;
  let stun: string;
  let stun2: string;
  let stun6: string;
  const programs: UdpPeer[] = [];

  beforeAll(async () => {
    lab = await NatLab.create();
    ({ stun, stun2, stun6 } = await lab.internetHost());
  }, 240_000);
  afterAll(async () => {
    await Promise.all(programs.map((p) => p.stop()));
    await lab?.close();
  }, 120_000);

  async function udp(agent: Agent, options: { ipv6?: boolean; reply?: boolean } = {}): Promise<UdpPeer> {
    const p = await agent.udp(options);
    programs.push(p);
    return p;
  }

  /**
   * Each side sends to the other's public mapping, both at once, until it hears from it; both answer
   * what they hear, so each hears the other even when one started late. Resolves once both have.
   */
  async function punch(a: UdpPeer, aSeenAs: string, b: UdpPeer, bSeenAs: string): Promise<void> {
    await Promise.all([a.send(bSeenAs, "from a", PUNCH), b.send(aSeenAs, "from b", PUNCH)]);
    await a.waitForReceived((r) => r.from === bSeenAs, "a to hear b");
    await b.waitForReceived((r) => r.from === aSeenAs, "b to hear a");
  }

  it("port-preserving masquerade keeps an agent's port for every destination, and a simultaneous exchange between two homes goes router to router", async () => {
    // Both homes use the same LAN prefix, as two real homes would.
    const [h1, h2] = [await lab.home("pp1", { nat: "port-preserving", lan: "192.168.1.0/24" }), await lab.home("pp2", { nat: "port-preserving", lan: "192.168.1.0/24" })];
    const [a, b] = [await h1.agent("pp1a"), await h2.agent("pp2a")];
    expect(a.ipv4).toBe(b.ipv4);
    const [pa, pb] = [await udp(a, { reply: true }), await udp(b, { reply: true })];
    const [ma, ma2, mb] = [await pa.stun(stun), await pa.stun(stun2), await pb.stun(stun)];
    expect(ma).toEqual({ address: h1.wan.ipv4, port: pa.port });
    expect(ma2).toEqual(ma);
    expect(mb).toEqual({ address: h2.wan.ipv4, port: pb.port });

    await punch(pa, at(ma!), pb, at(mb!));
    // Each saw the other at its public mapping, and only there: the NATs translated, nothing else carried it.
    expect(new Set(pa.received().map((r) => r.from))).toEqual(new Set([at(mb!)]));
    expect(new Set(pb.received().map((r) => r.from))).toEqual(new Set([at(ma!)]));
    for (const [home, peer] of [[h1, h2], [h2, h1]] as const) {
      expect((await home.router.countTo(peer.wan.ipv4)).packets).toBeGreaterThan(0);
      expect((await home.router.countFrom(peer.wan.ipv4)).packets).toBeGreaterThan(0);
    }
  }, TEST_MS);

  it("fully-random masquerade maps each destination to another port, and the same exchange between two such homes does not get through", async () => {
    const [h1, h2] = [await lab.home("sym1", { nat: "fully-random" }), await lab.home("sym2", { nat: "fully-random" })];
    const [pa, pb] = [await udp(await h1.agent("sym1a")), await udp(await h2.agent("sym2a"))];
    const [ma, ma2, mb] = [await pa.stun(stun), await pa.stun(stun2), await pb.stun(stun)];
    expect(ma!.address).toBe(h1.wan.ipv4);
    expect(ma2!.address).toBe(h1.wan.ipv4);
    // One socket, two destinations, two mappings: what STUN reports is useless to a peer.
    expect(ma2!.port).not.toBe(ma!.port);
    expect(mb!.address).toBe(h2.wan.ipv4);

    const before = [(await h1.router.counters()).unsolicited.packets, (await h2.router.counters()).unsolicited.packets];
    await Promise.all([pa.send(at(mb!), "from a", BURST), pb.send(at(ma!), "from b", BURST)]);
    // Every datagram of each burst reached the other router and was dropped there, as belonging to
    // no flow: once both counters say so, nothing more is on its way to either program.
    await waitFor(async () => (await h1.router.counters()).unsolicited.packets - before[0]! >= BURST.count, "home 1's router to drop b's burst");
    await waitFor(async () => (await h2.router.counters()).unsolicited.packets - before[1]! >= BURST.count, "home 2's router to drop a's burst");
    expect(pa.received()).toEqual([]);
    expect(pb.received()).toEqual([]);
    expect((await h1.router.countFrom(h2.wan.ipv4)).packets).toBe(0);
    expect((await h2.router.countFrom(h1.wan.ipv4)).packets).toBe(0);
  }, TEST_MS);

  it("two agents in one home reach each other on the LAN, and the router forwards none of it", async () => {
    const home = await lab.home("lan", { nat: "port-preserving" });
    const [a, b] = [await home.agent("lana"), await home.agent("lanb")];
    const [pa, pb] = [await udp(a), await udp(b, { reply: true })];
    await pa.send(`${b.ipv4}:${pb.port}`, "hello neighbour");
    await pb.waitForReceived((r) => r.data === "hello neighbour", "b to hear a on the LAN");
    await pa.waitForReceived((r) => r.data === "reply to hello neighbour", "a to hear b's reply");
    expect(pb.received()).toEqual([{ from: `${a.ipv4}:${pa.port}`, data: "hello neighbour" }]);
    const zero = { packets: 0, bytes: 0 };
    expect(await home.router.counters()).toEqual({ out: zero, in: zero, blocked: zero, unsolicited: zero, toRouter: zero });
  }, TEST_MS);

  it("IPv6 agents in two homes have global addresses and reach each other on them, untranslated, through both routers' firewalls", async () => {
    const [h1, h2] = [await lab.home("six1", { nat: "port-preserving" }), await lab.home("six2", { nat: "port-preserving" })];
    const [a, b] = [await h1.agent("six1a", { ipv6: true }), await h2.agent("six2a", { ipv6: true })];
    for (const agent of [a, b]) {
      const addrs = JSON.parse(await agent.ns.ip("-j", "-6", "addr", "show", "dev", "eth0")) as { addr_info: { local: string; scope: string }[] }[];
      expect(addrs[0]!.addr_info).toContainEqual(expect.objectContaining({ local: agent.ipv6, scope: "global" }));
    }
    const [pa, pb] = [await udp(a, { ipv6: true, reply: true }), await udp(b, { ipv6: true, reply: true })];
    // No NAT on IPv6: STUN sees the agent's own address and port.
    const [ma, mb] = [await pa.stun(stun6), await pb.stun(stun6)];
    expect(ma).toEqual({ address: a.ipv6, port: pa.port });
    expect(mb).toEqual({ address: b.ipv6, port: pb.port });

    await punch(pa, at(ma!), pb, at(mb!));
    expect(new Set(pb.received().map((r) => r.from))).toEqual(new Set([at(ma!)]));
    expect((await h1.router.countTo(b.ipv6!)).packets).toBeGreaterThan(0);
    expect((await h2.router.countFrom(a.ipv6!)).packets).toBeGreaterThan(0);
  }, TEST_MS);

  it("a stranger's datagrams to a NATed agent's public mapping, or to its global IPv6 address, are dropped by its router, counted, and never answered", async () => {
    const home = await lab.home("guarded", { nat: "port-preserving" });
    const guarded = await home.agent("guardeda", { ipv6: true });
    const [victim, victim6] = [await udp(guarded, { reply: true }), await udp(guarded, { ipv6: true, reply: true })];
    const mapping = await victim.stun(stun);
    const outsider = await lab.publicAgent("stranger", { ipv6: true });
    const [stranger, stranger6] = [await udp(outsider), await udp(outsider, { ipv6: true })];
    // A public agent that answers shows the stranger can hear answers: its silence below means something.
    const open = await lab.publicAgent("open");
    const openProgram = await udp(open, { reply: true });
    await stranger.send(`${open.ipv4}:${openProgram.port}`, "anyone there?");
    await stranger.waitForReceived((r) => r.data === "reply to anyone there?", "the public agent's answer");

    const before = (await home.router.counters()).unsolicited.packets;
    await stranger.send(at(mapping!), "let me in", { count: 5, intervalMs: 20 });
    await stranger6.send(`[${guarded.ipv6}]:${victim6.port}`, "let me in", { count: 5, intervalMs: 20 });
    await waitFor(async () => (await home.router.counters()).unsolicited.packets - before >= 10, "the router to drop the stranger's datagrams");
    expect(victim.received()).toEqual([]);
    expect(victim6.received()).toEqual([]);
    expect(stranger.received().filter((r) => r.data !== "reply to anyone there?")).toEqual([]);
    expect(stranger6.received()).toEqual([]);
    expect((await home.router.countFrom(outsider.ipv4)).packets).toBe(0);
    expect((await home.router.countFrom(outsider.ipv6!)).packets).toBe(0);
  }, TEST_MS);

  it("renumbering a home moves its agents' mappings to the new public address", async () => {
    const home = await lab.home("moving", { nat: "port-preserving" });
    const p = await udp(await home.agent("movinga"));
    const old = home.wan.ipv4;
    expect(await p.stun(stun)).toEqual({ address: old, port: p.port });
    const now = await home.renumber();
    expect(now).not.toBe(old);
    expect(home.wan.ipv4).toBe(now);
    // The same socket, the same destination: the old mapping was forgotten with the old address.
    expect(await p.stun(stun)).toEqual({ address: now, port: p.port });
    const addrs = await home.router.ns.ip("-4", "-o", "addr", "show", "dev", "wan");
    expect(addrs).toContain(`${now}/24`);
    expect(addrs).not.toContain(`${old}/24`);
  }, TEST_MS);

  it("the registry answers in the internet namespace, at the URL daemons get and at the test process's admin URL", async () => {
    const host = await lab.internetHost();
    expect(host.registryUrl).toBe(`http://${INTERNET.ipv4}`);
    const operator = await lab.operator();
    const net = await operator.createNetwork();
    // Join URLs carry the registry's public origin, never the admin address the request came to.
    expect(net.join!.url.startsWith(`${host.registryUrl}/`)).toBe(true);
  }, TEST_MS);
  it("a router told to block UDP drops it both ways and counts it, and lets it through again when told", async () => {
    const home = await lab.home("walled", { nat: "port-preserving" });
    const p = await udp(await home.agent("walled-a"));
    await home.router.blockUdp(true);
    // A STUN query waits 5 s for its answer: no answer means the request or its answer was dropped.
    expect(await p.stun(stun)).toBeNull();
    const blocked = await home.router.counters();
    expect(blocked.blocked.packets).toBeGreaterThan(0);
    expect(blocked.out.packets).toBe(0);
    await home.router.blockUdp(false);
    expect(await p.stun(stun)).toEqual({ address: home.wan.ipv4, port: p.port });
    expect((await home.router.counters()).blocked).toEqual(blocked.blocked);
  }, TEST_MS);

  it("a router switched from fully-random to port-preserving maps an agent's next packets by the new rule", async () => {
    const home = await lab.home("switched", { nat: "fully-random" });
    const p = await udp(await home.agent("switched-a"));
    const [m1, m2] = [await p.stun(stun), await p.stun(stun2)];
    expect(m1?.port).not.toBe(m2?.port);
    await home.router.setNat("port-preserving");
    expect(home.router.nat).toBe("port-preserving");
    // The router forgot its UDP flows: even the flow to the first server gets the new kind of mapping.
    expect([await p.stun(stun), await p.stun(stun2)]).toEqual([
      { address: home.wan.ipv4, port: p.port },
      { address: home.wan.ipv4, port: p.port },
    ]);
  }, TEST_MS);
});

describe.skipIf(unavailable !== undefined)("labs side by side", () => {
  it("two labs at once use the same names and addresses without meeting, and closing one leaves the other working", async () => {
    const labs = await Promise.all([NatLab.create(), NatLab.create()]);
    const programs: UdpPeer[] = [];
    try {
      expect(labs[0].prefix).not.toBe(labs[1].prefix);
      // In each lab, an agent behind a home says hello to a public agent that answers.
      const sides = await Promise.all(
        labs.map(async (lab) => {
          const home = await lab.home("twin", { nat: "port-preserving" });
          const [inside, outside] = [await home.agent("twina"), await lab.publicAgent("twinp")];
          const [pi, po] = [await inside.udp(), await outside.udp({ reply: true })];
          programs.push(pi, po);
          return { lab, home, outside, pi, po };
        }),
      );
      expect(sides[0]!.home.wan).toEqual(sides[1]!.home.wan);
      expect(sides[0]!.outside.ipv4).toBe(sides[1]!.outside.ipv4);
      const hello = async (side: (typeof sides)[number], text: string) => {
        await side.pi.send(`${side.outside.ipv4}:${side.po.port}`, text);
        await side.pi.waitForReceived((r) => r.data === `reply to ${text}`, `the answer to "${text}"`);
        // The public program's report of the hello comes through its own pipe, which may reach this
        // process after the inside program's report of the answer.
        await side.po.waitForReceived((r) => r.data === text, `"${text}" at the public agent`);
      };
      await Promise.all(sides.map((side) => hello(side, `hello from ${side.lab.prefix}`)));
      // Each public agent heard its own lab only.
      for (const side of sides) expect(side.po.received().map((r) => r.data)).toEqual([`hello from ${side.lab.prefix}`]);

      await labs[1].close();
      expect(await run(["ip", "netns", "list"])).not.toContain(`${labs[1].prefix}.`);
      await hello(sides[0]!, "still here");
    } finally {
      await Promise.all(programs.map((p) => p.stop()));
      await Promise.all(labs.map((lab) => lab.close()));
    }
  }, TEST_MS);

  it("a new lab removes the namespaces of a crashed run, and only those", async () => {
    // A process ID beyond the kernel's largest cannot be running.
    const deadPid = Number(await run(["cat", "/proc/sys/kernel/pid_max"])) + 1;
    // Its lab number is this process's ID, so two runs of this test at once do not collide.
    const stale = await Namespace.create(`nl-${deadPid.toString(36)}-${process.pid.toString(36)}.net`);
    const live = await Namespace.create(`${newPrefix()}.net`);
    const notOurs = await Namespace.create(`${newPrefix().replace(/^nl-/, "other-")}.net`);
    try {
      const lab = await NatLab.create();
      await lab.close();
      const names = await run(["ip", "netns", "list"]);
      expect(names).not.toContain(stale.name);
      expect(names).toContain(live.name);
      expect(names).toContain(notOurs.name);
    } finally {
      await Promise.all([stale, live, notOurs].map((ns) => ns.delete()));
    }
  }, TEST_MS);
});
