/** The data plane between in-process daemons' tunnels on real UDP sockets. */
import { randomBytes } from "node:crypto";
import { createSocket, type RemoteInfo } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { newEphemeral } from "../src/crypto/keys.ts";
import type { DatagramIn } from "../src/dataplane/datagrams.ts";
import { Tunnels, type PeerInfo } from "../src/dataplane/tunnel/tunnels.ts";
import type { Relay } from "../src/dataplane/tunnel/path.ts";
import { BASE_PLPMTU, STREAM_OVERHEAD } from "../src/dataplane/tunnel/path-mtus.ts";
import { firstHopMtu } from "../src/net/first-hop.ts";
import { Identity } from "../src/identity.ts";
import { KeyExchange } from "../src/dataplane/tunnel/key-exchange.ts";
import { encodePacket, HEADER_BYTES, PROTOCOL } from "../src/wire/packet.ts";
import { helloBody, helloSigningInput, parseHello } from "../src/wire/tunnel.ts";
import { atLeast, waitFor } from "./wait.ts";

const open: { close(): void }[] = [];
afterEach(() => open.splice(0).forEach((t) => t.close()));

interface Node {
  id: number;
  identity: Identity;
  tunnels: Tunnels;
  got: DatagramIn[];
  port: number;
  allowed: Set<number>;
  /** Peers the registry no longer shows this node (say they deregistered), whatever its access list says. */
  hidden: Set<number>;
  /** How many times this node asked the registry about a peer. */
  lookups: { count: number };
  /** Path requests this node made: its own contacts, which the registry would tell the peer of. */
  paths: number[];
  /** What the tunnels logged for the owner. */
  logged: string[];
}

/** A directory standing in for the registry: who has which key, and where. */
const directory = new Map<number, PeerInfo>();

/**
 * A relay standing in for the registry's (net/relay-link.ts to a node's object and on): frames go
 * to the node they name, a turn of the event loop later, marked with who sent them.
 */
class LocalRelay {
  readonly nodes = new Map<number, Tunnels>();
  /** Frames carried, per sending node. */
  readonly carried = new Map<number, number>();
  up = true;

  link(from: number): Relay {
    const relay = this;
    return {
      get up() {
        return relay.up;
      },
      send: (peer, frame) => {
        if (!relay.up) return false;
        const bytes = Buffer.concat(Buffer.isBuffer(frame) ? [frame] : [...frame]);
        relay.carried.set(from, (relay.carried.get(from) ?? 0) + 1);
        setImmediate(() => relay.nodes.get(peer)?.receiveRelayed(from, bytes));
        return true;
      },
    };
  }
}

/** A UDP port with nothing behind it: what a candidate behind an endpoint-dependent NAT is to a peer. */
async function deadPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  const { port } = socket.address();
  socket.close();
  return port;
}

/** A node of an older release, as a bare identity and UDP socket the test speaks for, listed in the directory. */
async function olderRelease(id: number): Promise<{ identity: Identity; socket: ReturnType<typeof createSocket> }> {
  const old = { identity: Identity.generate(), socket: createSocket("udp4") };
  open.push(old.socket);
  await new Promise<void>((r) => old.socket.bind(0, "127.0.0.1", r));
  directory.set(id, { nodeId: id, publicKey: Buffer.from(old.identity.publicKey, "base64"), endpoints: [{ address: "127.0.0.1", port: old.socket.address().port }] });
  return old;
}

async function node(id: number, options: { identity?: Identity; port?: number; silenceBeforeRekeyMs?: number; keepaliveMs?: number; relay?: LocalRelay } = {}): Promise<Node> {
  const identity = options.identity ?? Identity.generate();
  const got: DatagramIn[] = [];
  const allowed = new Set<number>();
  const hidden = new Set<number>();
  const lookups = { count: 0 };
  const paths: number[] = [];
  const logged: string[] = [];
  const tunnels = new Tunnels({
    identity,
    me: () => id,
    allowed: (peer) => allowed.has(peer),
    lookup: async (peer) => {
      lookups.count++;
      return hidden.has(peer) ? null : (directory.get(peer) ?? null);
    },
    requestPath: async (peer) => {
      paths.push(peer);
      return hidden.has(peer) ? null : (directory.get(peer) ?? null);
    },
    onDatagram: (d) => got.push(d),
    silenceBeforeRekeyMs: options.silenceBeforeRekeyMs,
    keepaliveMs: options.keepaliveMs,
    relay: options.relay?.link(id),
    log: (line) => logged.push(line),
  });
  options.relay?.nodes.set(id, tunnels);
  const { port } = (await tunnels.bind("127.0.0.1", options.port ?? 0)).v4;
  directory.set(id, { nodeId: id, publicKey: Buffer.from(identity.publicKey, "base64"), endpoints: [{ address: "127.0.0.1", port }] });
  open.push(tunnels);
  return { id, identity, tunnels, got, port, allowed, hidden, lookups, paths, logged };
}

describe("tunnels", () => {
  it("carry datagrams between peers that allow each other, and pings", async () => {
    const [a, b] = [await node(101), await node(102)];
    a.allowed.add(102);
    b.allowed.add(101);
    await a.tunnels.sendDatagram(102, 5000, 7, Buffer.from("hello"));
    await waitFor(() => b.got.length >= 1, "the datagram to be delivered");
    expect(b.got.map((d) => [d.from, d.srcPort, d.dstPort, d.payload.toString()])).toEqual([[101, 5000, 7, "hello"]]);
    expect(await a.tunnels.ping(102)).toBeGreaterThan(0);
  });

  it("open a first contact with a resolution handed over, without asking the registry again, while the peer still asks afresh", async () => {
    const [a, b] = [await node(201), await node(202)];
    a.allowed.add(202);
    b.allowed.add(201);
    a.tunnels.learn(directory.get(202)!);
    await a.tunnels.sendDatagram(202, 1, 7, Buffer.from("first contact"));
    await waitFor(() => b.got.length === 1, "the datagram to be delivered");
    expect(a.lookups.count).toBe(0);
    expect(b.lookups.count).toBe(1);
    // The path request still goes out, so that a peer behind a NAT would probe back.
    expect(a.paths).toEqual([202]);
  });

  it("check a peer's standing anew at each exchange it starts, though its key is cached and the access list stale", async () => {
    const [a, b] = [await node(171), await node(172)];
    a.allowed.add(172);
    b.allowed.add(171);
    await a.tunnels.sendDatagram(172, 1, 7, Buffer.from("first"));
    await waitFor(() => b.got.length === 1, "the first datagram");
    // The registry stops showing A to B, and B has not heard why: its access list still allows A.
    b.hidden.add(171);
    a.tunnels.drop(172);
    await expect(a.tunnels.sendDatagram(172, 1, 7, Buffer.from("again"))).rejects.toMatchObject({ code: "no_path" });
    expect(b.got.map((d) => d.payload.toString())).toEqual(["first"]);
  });

  it("stop delivering a peer's datagrams through a live tunnel the moment it is no longer allowed", async () => {
    const [a, b] = [await node(191), await node(192)];
    a.allowed.add(192);
    b.allowed.add(191);
    await a.tunnels.sendDatagram(192, 1, 7, Buffer.from("allowed"));
    await waitFor(() => b.got.length === 1, "the first datagram");
    b.allowed.delete(191);
    const dropped = b.tunnels.stats.dropped;
    await a.tunnels.sendDatagram(192, 1, 7, Buffer.from("revoked"));
    await waitFor(() => b.tunnels.stats.dropped > dropped, "the datagram to be dropped");
    expect(b.got.map((d) => d.payload.toString())).toEqual(["allowed"]);
  });

  it("refuse a tunnel from a peer not allowed, without any reply", async () => {
    const [a, b] = [await node(111), await node(112)];
    a.allowed.add(112);
    await expect(a.tunnels.sendDatagram(112, 1, 7, Buffer.from("let me in"))).rejects.toMatchObject({ code: "no_path" });
    expect(b.got).toEqual([]);
    expect(a.tunnels.stats.received).toBe(0);
    expect(b.tunnels.stats.dropped).toBeGreaterThan(0);
  });

  it("fail a ping to a peer that cannot be found without taking the process down", async () => {
    const a = await node(121);
    await expect(a.tunnels.ping(999_999, 200)).rejects.toMatchObject({ code: "not_found" });
    // Nothing follows to wait for: timers in this process fire in order, so by the end of this
    // pause a 200 ms ping timer, had the failed ping left one, would have fired.
    await atLeast(300);
  });

  it("recover when the first answer to a key exchange is lost", async () => {
    const [a, b] = [await node(131), await node(132)];
    a.allowed.add(132);
    b.allowed.add(131);
    // A proxy in front of B that loses B's first answer.
    const proxy = createSocket("udp4");
    open.push(proxy);
    await new Promise<void>((r) => proxy.bind(0, "127.0.0.1", r));
    let aEndpoint: RemoteInfo | undefined;
    let answers = 0;
    proxy.on("message", (msg, from) => {
      if (from.port === b.port) {
        if (msg.subarray(0, 4).toString() === "PILA" && answers++ === 0) return;
        proxy.send(msg, aEndpoint!.port, aEndpoint!.address);
      } else {
        aEndpoint = from;
        proxy.send(msg, b.port, "127.0.0.1");
      }
    });
    directory.set(132, { ...directory.get(132)!, endpoints: [{ address: "127.0.0.1", port: proxy.address().port }] });
    await a.tunnels.sendDatagram(132, 1, 7, Buffer.from("through the loss"));
    await waitFor(() => b.got.length >= 1, "the datagram to be delivered");
    expect(b.got.map((d) => d.payload.toString())).toEqual(["through the loss"]);
    expect(answers).toBeGreaterThanOrEqual(2);
  });

  it("refuse packets of the old version 1 from a peer that completed the exchange, and tell the owner once why", async () => {
    const b = await node(902);
    b.allowed.add(901);
    // A daemon of the release before version 2: the same exchange, then packets with version 1's
    // header (four bytes longer, for the CRC it carried), sealed like any other.
    const old = await olderRelease(901);
    const exchange = new KeyExchange(old.identity, () => 901);
    exchange.start(902);
    const session = new Promise<NonNullable<ReturnType<KeyExchange["consume"]>>["session"]>((resolve) =>
      old.socket.on("message", (msg) => {
        const hello = exchange.screen(msg, Date.now());
        if (hello) resolve(exchange.consume(hello, Buffer.from(b.identity.publicKey, "base64"), Date.now())?.session);
      }),
    );
    old.socket.send(exchange.initiation(902, Date.now())!, b.port, "127.0.0.1");
    const sealer = (await session)!;
    const datagram = (payload: string) => encodePacket({ flags: 0, protocol: PROTOCOL.datagram, src: { network: 0, node: 901 }, dst: { network: 0, node: 902 }, srcPort: 1, dstPort: 7, seq: 0, ack: 0, window: 0, payload: Buffer.from(payload) });
    const version1 = (payload: string) => {
      const v2 = datagram(payload);
      const header = Buffer.concat([v2.subarray(0, HEADER_BYTES), Buffer.alloc(4)]);
      header[0] = 0x10;
      return Buffer.concat([header, v2.subarray(HEADER_BYTES)]);
    };
    for (const payload of ["old one", "old two"]) old.socket.send(sealer.seal([version1(payload)]), b.port, "127.0.0.1");
    old.socket.send(sealer.seal([datagram("current")]), b.port, "127.0.0.1");
    await waitFor(() => b.got.length >= 1, "the current version's datagram to be delivered");
    expect(b.got.map((d) => d.payload.toString())).toEqual(["current"]);
    expect(b.tunnels.stats.dropped).toBeGreaterThanOrEqual(2);
    expect(b.logged).toHaveLength(1);
    expect(b.logged[0]).toMatch(/version 1 from node 901: this daemon speaks packet version 2.*upgrade pilot-daemon/);
  });

  it("answer nothing to a key exchange of version 3 (the release before ChaCha20-Poly1305), and tell the owner once a minute why", async () => {
    const b = await node(904);
    b.allowed.add(903);
    const old = await olderRelease(903);
    const answers: Buffer[] = [];
    old.socket.on("message", (msg) => answers.push(msg));
    // Version 3's hello is this one's with its version byte, signed as version 3 signed it.
    const exchange = new KeyExchange(old.identity, () => 903);
    exchange.start(904);
    const current = exchange.initiation(904, Date.now())!;
    const body = Buffer.from(current.subarray(0, current.length - 64));
    body[4] = 3;
    const version3 = Buffer.concat([body, Buffer.from(old.identity.sign(Buffer.concat([Buffer.from("pilot-tunnel-v3/hello"), body])), "base64")]);
    for (let i = 0; i < 3; i++) old.socket.send(version3, b.port, "127.0.0.1");
    await waitFor(() => b.tunnels.stats.dropped >= 3, "the three hellos to be dropped");
    expect(b.logged).toHaveLength(1);
    expect(b.logged[0]).toMatch(new RegExp(`key exchange of version 3 from 127\\.0\\.0\\.1:${old.socket.address().port}: this daemon speaks version 4.*upgrade pilot-daemon`));
    // The current version is answered at once, and only it: the old one got no word.
    old.socket.send(current, b.port, "127.0.0.1");
    await waitFor(() => answers.length >= 1, "the current hello's answer");
    expect(answers.map((a) => a[4])).toEqual([4]);
    expect(b.logged).toHaveLength(1);
  });

  it("send no path MTU probe to an address a sealed packet came from until the peer answers there (a forged source gets pings, not kilobytes)", async () => {
    const [victim, attacker] = [await node(922), await node(921)];
    victim.allowed.add(921);
    attacker.allowed.add(922);
    await attacker.tunnels.sendDatagram(922, 1, 7, Buffer.from("hi"));
    await waitFor(() => victim.got.length === 1, "the first datagram");
    await waitFor(() => victim.tunnels.peers()[0]?.mtu === 65_535, "the loopback path's MTU to be found");
    // A peer holding the keys sends its frames from a third party's addresses (spoofed sources).
    const third = { bytes: 0, largest: 0 };
    const sockets = await Promise.all(
      [0, 1].map(async () => {
        const socket = createSocket("udp4");
        open.push(socket);
        socket.on("message", (m) => {
          third.bytes += m.length;
          third.largest = Math.max(third.largest, m.length);
        });
        await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
        return socket;
      }),
    );
    let sent = 0;
    let frames = 0;
    attacker.tunnels.socket.send = ((frame: Buffer, port: number, address: string) => {
      sent += frame.length;
      sockets[frames++ % 2]!.send(frame, port, address);
    }) as typeof attacker.tunnels.socket.send;
    for (let i = 0; i < 10; i++) await attacker.tunnels.sendDatagram(922, 1, 7, Buffer.alloc(0));
    await waitFor(() => victim.got.length === 11, "the forged-source datagrams");
    // Each path change costs one ping to the new address; probes would be 65 KB each here.
    await waitFor(() => third.bytes >= 10 * 60, "the pings to the third party");
    await new Promise((r) => setTimeout(r, 300));
    expect(third.largest).toBeLessThan(200);
    expect(third.bytes).toBeLessThanOrEqual(2 * sent);
    expect(victim.tunnels.peers()[0]?.mtu).toBeNull();
  });

  it("bound what forged exchanges with random senders cost a node that accepts anyone, and still answer a known peer", async () => {
    const known = await node(183);
    known.allowed.add(182);
    const lookups = { count: 0 };
    const identity = Identity.generate();
    // A public node: every sender is allowed, so each exchange would need a lookup of its key.
    const publicNode = new Tunnels({
      identity,
      me: () => 182,
      allowed: () => true,
      requestPath: async () => null,
      lookup: async (peer) => {
        lookups.count++;
        return peer === 183 ? directory.get(183)! : null;
      },
      onDatagram: () => undefined,
    });
    const { port } = (await publicNode.bind("127.0.0.1", 0)).v4;
    open.push(publicNode);
    directory.set(182, { nodeId: 182, publicKey: Buffer.from(identity.publicKey, "base64"), endpoints: [{ address: "127.0.0.1", port }] });
    // The known peer's first exchange: the public node learns its key.
    await known.tunnels.ping(182).catch(() => undefined);
    const forger = createSocket("udp4");
    open.push(forger);
    await new Promise<void>((r) => forger.bind(0, "127.0.0.1", r));
    const forgedBy = Identity.generate();
    const started = performance.now();
    const before = lookups.count;
    // Forged exchanges from ever new senders, far faster than the budget refills, all along.
    let forging = true;
    let sent = 0;
    const flood = (async () => {
      while (forging) {
        for (let i = 0; i < 50; i++, sent++) {
          const body = helloBody("initiate", 1_000_000 + sent, 182, Date.now(), newEphemeral().publicKey);
          forger.send(Buffer.concat([body, Buffer.from(forgedBy.sign(helloSigningInput(body)), "base64")]), port, "127.0.0.1");
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await waitFor(() => publicNode.stats.dropped >= 1000, "the forged exchanges to be dropped");
    // In the middle of the flood, the known peer's fresh exchange is still answered.
    known.tunnels.drop(182);
    const rtt = await known.tunnels.ping(182).catch((e: unknown) => e);
    forging = false;
    await flood;
    expect(typeof rtt).toBe("number");
    const seconds = (performance.now() - started) / 1000;
    // The budget: a burst of 40, then 20 a second, however many were forged (at least the 1,000
    // dropped; the flood may stop right at that count when the ping answers within its pause).
    expect(sent).toBeGreaterThanOrEqual(1000);
    expect(lookups.count - before).toBeLessThanOrEqual(40 + Math.ceil(20 * seconds) + 1);
  });

  it("complete an exchange only with an answer to it, not a late answer to another", async () => {
    const a = await node(141);
    a.allowed.add(142);
    const bIdentity = Identity.generate();
    const fake = createSocket("udp4");
    open.push(fake);
    await new Promise<void>((r) => fake.bind(0, "127.0.0.1", r));
    directory.set(142, { nodeId: 142, publicKey: Buffer.from(bIdentity.publicKey, "base64"), endpoints: [{ address: "127.0.0.1", port: fake.address().port }] });
    const answer = (answers: Buffer) => {
      const body = helloBody("respond", 142, 141, Date.now(), newEphemeral().publicKey, answers);
      return Buffer.concat([body, Buffer.from(bIdentity.sign(helloSigningInput(body)), "base64")]);
    };
    fake.on("message", (msg) => {
      const hello = parseHello(msg);
      // Answer someone else's exchange: signed by the right key, but for another initiator key.
      if (hello) fake.send(answer(newEphemeral().publicKey), a.port, "127.0.0.1");
    });
    await expect(a.tunnels.sendDatagram(142, 1, 7, Buffer.from("x"))).rejects.toMatchObject({ code: "no_path" });
    expect(a.tunnels.peers()).toEqual([]);
  });

  it("find a peer again soon after it restarts, by starting a fresh exchange when it goes quiet", async () => {
    const a = await node(151, { silenceBeforeRekeyMs: 300 });
    const b = await node(152);
    a.allowed.add(152);
    b.allowed.add(151);
    await a.tunnels.sendDatagram(152, 1, 7, Buffer.from("before"));
    // A last heard from B when the tunnel opened, at the latest now.
    const heardAt = Date.now();
    await waitFor(() => b.got.length >= 1, "the datagram to be delivered");
    // B restarts: same identity and port, no memory of the tunnel.
    const closed = new Promise((r) => b.tunnels.socket.once("close", r));
    b.tunnels.close();
    await closed;
    const restarted = await node(152, { identity: b.identity, port: b.port });
    restarted.allowed.add(151);
    // The silence that makes A start a fresh exchange is the trigger under test, not a speed.
    await waitFor(() => Date.now() - heardAt > 300, "A's tunnel to be silent for longer than silenceBeforeRekeyMs");
    // A keeps sending: what goes out before the fresh exchange completes is lost with the old keys.
    const sender = setInterval(() => void a.tunnels.sendDatagram(152, 1, 7, Buffer.from("after")).catch(() => undefined), 50);
    try {
      await waitFor(() => restarted.got.length > 0, "a datagram to reach the restarted peer");
    } finally {
      clearInterval(sender);
    }
    expect(restarted.got.map((d) => d.payload.toString())).toContain("after");
  });

  it("probe every candidate a peer has and take the one that completes the exchange", async () => {
    const [a, b] = [await node(191), await node(192)];
    a.allowed.add(192);
    b.allowed.add(191);
    // A LAN address nobody answers on, tried first, and the one that works.
    const dead = createSocket("udp4");
    open.push(dead);
    await new Promise<void>((r) => dead.bind(0, "127.0.0.1", r));
    let probesAtDead = 0;
    dead.on("message", () => probesAtDead++);
    const real = directory.get(192)!;
    directory.set(192, { ...real, endpoints: [{ address: "10.255.255.1", port: 9 }, { address: "127.0.0.1", port: dead.address().port }, ...real.endpoints] });
    await a.tunnels.sendDatagram(192, 1, 7, Buffer.from("through whichever works"));
    await waitFor(() => b.got.length === 1, "the datagram to be delivered");
    expect(a.tunnels.peers().map((p) => p.endpoint)).toEqual([`127.0.0.1:${b.port}`]);
    expect(probesAtDead).toBeGreaterThanOrEqual(1);
    directory.set(192, real);
  });

  it("answer a path request with probes, at most once a second however often it comes", async () => {
    const a = await node(193);
    a.allowed.add(194);
    const peer = createSocket("udp4");
    open.push(peer);
    await new Promise<void>((r) => peer.bind(0, "127.0.0.1", r));
    const probes: number[] = [];
    peer.on("message", (msg) => {
      const hello = parseHello(msg);
      if (hello?.role === "probe" && hello.sender === 193 && hello.receiver === 194) probes.push(hello.time);
    });
    for (let i = 0; i < 50; i++) a.tunnels.probe(194, [{ address: "127.0.0.1", port: peer.address().port }]);
    // One path request's worth: three rounds, each probe signed afresh.
    await waitFor(() => probes.length >= 3, "the probes' three rounds");
    await new Promise((r) => setTimeout(r, 600));
    expect(probes.length).toBe(3);
    expect(new Set(probes).size).toBe(3);
    expect(a.tunnels.peers()).toEqual([]);
  });

  it("keep an idle tunnel's path open with keepalives, which also measure its round trip", async () => {
    const [a, b] = [await node(195, { keepaliveMs: 200 }), await node(196, { keepaliveMs: 200 })];
    a.allowed.add(196);
    b.allowed.add(195);
    await a.tunnels.sendDatagram(196, 1, 7, Buffer.from("then silence"));
    await waitFor(() => b.got.length === 1, "the datagram to be delivered");
    const received = b.tunnels.stats.received;
    await waitFor(() => b.tunnels.stats.received >= received + 2, "keepalives to arrive");
    expect(b.got.length).toBe(1);
    await waitFor(() => a.tunnels.peers()[0]?.rttMs != null, "a round trip measured");
    expect(a.tunnels.peers()[0]).toMatchObject({ nodeId: 196, path: "direct", endpoint: `127.0.0.1:${b.port}` });
    // The side that answered the exchange has one too, from the gap before the peer's first packet.
    expect(b.tunnels.peers()[0]).toMatchObject({ nodeId: 195, rttMs: expect.any(Number) });
  });

  it("probe at most four of a quiet peer's candidates, and start fresh exchanges with it ever more rarely", async () => {
    const a = await node(197, { silenceBeforeRekeyMs: 100 });
    const b = await node(198);
    a.allowed.add(198);
    b.allowed.add(197);
    await a.tunnels.sendDatagram(198, 1, 7, Buffer.from("before"));
    await waitFor(() => b.got.length === 1, "the datagram to be delivered");
    // B goes quiet, and now claims eight more candidates: sockets that count what reaches them.
    b.tunnels.close();
    const listeners = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const socket = createSocket("udp4");
        open.push(socket);
        await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
        const heard = { exchanges: new Set<string>(), frames: 0 };
        socket.on("message", (msg) => {
          const hello = parseHello(msg);
          if (hello?.role === "initiate") {
            heard.frames++;
            heard.exchanges.add(hello.ephemeral.toString("hex"));
          }
        });
        return { port: socket.address().port, heard };
      }),
    );
    const real = directory.get(198)!;
    directory.set(198, { ...real, endpoints: listeners.map((l) => ({ address: "127.0.0.1", port: l.port })) });
    // Sends every 100 ms for 3.5 s, each finding the tunnel silent.
    const started = performance.now();
    while (performance.now() - started < 3500) {
      await a.tunnels.sendDatagram(198, 1, 7, Buffer.from("anyone?")).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
    const reached = listeners.filter((l) => l.heard.frames > 0);
    expect(reached.length).toBeGreaterThan(0);
    expect(reached.length).toBeLessThanOrEqual(3);
    // Exchanges at 0, 1 and 3 s: not one per send.
    const exchanges = new Set(reached.flatMap((l) => [...l.heard.exchanges]));
    expect(exchanges.size).toBeLessThanOrEqual(3);
    directory.set(198, real);
  });
});

describe("tunnels with a relay", () => {
  it("start on the relay when no candidate answers, and carry datagrams both ways through it", async () => {
    const relay = new LocalRelay();
    const [a, b] = [await node(401, { relay }), await node(402, { relay })];
    a.allowed.add(402);
    b.allowed.add(401);
    const real = directory.get(402)!;
    directory.set(402, { ...real, endpoints: [{ address: "127.0.0.1", port: await deadPort() }] });
    await a.tunnels.sendDatagram(402, 1, 7, Buffer.from("through the relay"));
    await waitFor(() => b.got.length === 1, "the datagram to arrive through the relay");
    await b.tunnels.sendDatagram(401, 7, 1, Buffer.from("and back"));
    await waitFor(() => a.got.length === 1, "the answer to arrive through the relay");
    expect([a.tunnels.peers()[0], b.tunnels.peers()[0]].map((p) => [p?.path, p?.endpoint])).toEqual([
      ["relay", null],
      ["relay", null],
    ]);
    expect(relay.carried.get(401)).toBeGreaterThan(0);
    expect(relay.carried.get(402)).toBeGreaterThan(0);
    // Streams through the relay time out no sooner than TCP would: its delay varies with load.
    expect(a.tunnels.rtoFloorMs(402)).toBe(200);
    directory.set(402, real);
  });

  it("go through the relay at once to a peer with no candidates", async () => {
    const relay = new LocalRelay();
    const [a, b] = [await node(411, { relay }), await node(412, { relay })];
    a.allowed.add(412);
    b.allowed.add(411);
    const real = directory.get(412)!;
    directory.set(412, { ...real, endpoints: [] });
    await a.tunnels.sendDatagram(412, 1, 7, Buffer.from("no address at all"));
    await waitFor(() => b.got.length === 1, "the datagram to arrive through the relay");
    expect(a.tunnels.peers()[0]?.path).toBe("relay");
    // Through the relay the path's MTU does not apply: none is searched, and segments keep Ethernet's size.
    expect(a.tunnels.peers()[0]?.mtu).toBeNull();
    expect(a.tunnels.mss(412)).toBe(1500 - 20 - STREAM_OVERHEAD);
    directory.set(412, real);
  });

  it("fail with no_path, saying the relay is down, when neither a candidate nor the relay can carry the exchange", async () => {
    const relay = new LocalRelay();
    const [a, b] = [await node(421, { relay }), await node(422, { relay })];
    a.allowed.add(422);
    b.allowed.add(421);
    relay.up = false;
    const real = directory.get(422)!;
    directory.set(422, { ...real, endpoints: [] });
    await expect(a.tunnels.sendDatagram(422, 1, 7, Buffer.from("x"))).rejects.toMatchObject({ code: "no_path", message: expect.stringContaining("relay connection is down") });
    directory.set(422, { ...real, endpoints: [{ address: "127.0.0.1", port: await deadPort() }] });
    await expect(a.tunnels.sendDatagram(422, 1, 7, Buffer.from("x"))).rejects.toMatchObject({ code: "no_path", message: expect.stringContaining("relay connection is down") });
    directory.set(422, real);
  });

  it("move a relayed tunnel to the direct path once one answers, keeping the peer's traffic flowing", async () => {
    const relay = new LocalRelay();
    const [a, b] = [await node(431, { relay }), await node(432, { relay })];
    a.allowed.add(432);
    b.allowed.add(431);
    const real = directory.get(432)!;
    directory.set(432, { ...real, endpoints: [{ address: "127.0.0.1", port: await deadPort() }] });
    await a.tunnels.sendDatagram(432, 1, 7, Buffer.from("0"));
    await waitFor(() => b.got.length === 1, "the first datagram, through the relay");
    expect(a.tunnels.peers()[0]?.path).toBe("relay");
    const relayedAt = a.tunnels.peers()[0]!.changedAt;
    // The peer's real candidate comes back (its NAT now maps ports the same for everyone).
    directory.set(432, real);
    let sent = 1;
    await waitFor(
      async () => {
        await a.tunnels.sendDatagram(432, 1, 7, Buffer.from(String(sent++)));
        return a.tunnels.peers()[0]?.path === "direct" && b.tunnels.peers()[0]?.path === "direct";
      },
      "both sides to move to the direct path",
      15_000,
      100,
    );
    const moved = a.tunnels.peers()[0]!;
    expect(moved.endpoint).toBe(`127.0.0.1:${b.port}`);
    expect(a.tunnels.rtoFloorMs(432)).toBe(0);
    expect(moved.changedAt).toBeGreaterThan(relayedAt);
    const carried = relay.carried.get(431) ?? 0;
    await a.tunnels.sendDatagram(432, 1, 7, Buffer.from("direct"));
    await waitFor(() => b.got.some((d) => d.payload.toString() === "direct"), "a datagram on the direct path");
    expect(relay.carried.get(431)).toBe(carried);
  });

  it("drop a relayed frame that names a sender other than the one the relay vouches for", async () => {
    const relay = new LocalRelay();
    const [a, b, c] = [await node(441, { relay }), await node(442, { relay }), await node(443, { relay })];
    a.allowed.add(442);
    b.allowed.add(441).add(443);
    directory.set(442, { ...directory.get(442)!, endpoints: [] });
    await a.tunnels.sendDatagram(442, 1, 7, Buffer.from("from a"));
    await waitFor(() => b.got.length === 1, "A's datagram");
    // C relays frames captured from A's tunnel as its own (the relay says they come from C).
    const captured: Buffer[] = [];
    const forward = relay.link(441);
    relay.nodes.set(442, { receiveRelayed: (from: number, frame: Buffer) => (from === 441 ? captured.push(frame) : undefined) } as unknown as Tunnels);
    await a.tunnels.sendDatagram(442, 1, 7, Buffer.from("captured"));
    await waitFor(() => captured.length === 1, "a frame of A's to capture");
    relay.nodes.set(442, b.tunnels);
    const dropped = b.tunnels.stats.dropped;
    b.tunnels.receiveRelayed(443, captured[0]!);
    expect(b.tunnels.stats.dropped).toBe(dropped + 1);
    // The same frame, vouched for as A's, is A's datagram.
    forward.send(442, captured[0]!);
    await waitFor(() => b.got.length === 2, "the frame delivered as A's");
    expect(b.got.map((d) => [d.from, d.payload.toString()])).toEqual([
      [441, "from a"],
      [441, "captured"],
    ]);
    expect(c.got).toEqual([]);
  });

  it("drop a stranger's sealed frames of any length under a live tunnel's sender and key, and replays, without moving the tunnel or its replay window", async () => {
    const relay = new LocalRelay();
    const [a, b] = [await node(451, { relay }), await node(452, { relay })];
    a.allowed.add(452);
    b.allowed.add(451);
    directory.set(452, { ...directory.get(452)!, endpoints: [] });
    // B's frames from A, as they were on the wire (B opens its own copy in place).
    const seen: Buffer[] = [];
    relay.nodes.set(452, { receiveRelayed: (from: number, frame: Buffer) => (seen.push(Buffer.from(frame)), b.tunnels.receiveRelayed(from, frame)) } as unknown as Tunnels);
    await a.tunnels.sendDatagram(452, 1, 7, Buffer.from("first"));
    await waitFor(() => b.got.length === 1, "A's first datagram");
    const stranger = createSocket("udp4");
    open.push(stranger);
    await new Promise<void>((r) => stranger.bind(0, "127.0.0.1", r));
    const genuine = seen.at(-1)!;
    const counter = Number(genuine.readBigUInt64BE(12));
    // A's header (sender and key) with counters ahead of any A has used, around each AEAD's lengths.
    const forged = [1, 2, 1_000, 2 ** 40].flatMap((ahead) =>
      [0, 1, 4095, 4096, 4097, 8000].map((body) => {
        const frame = Buffer.concat([genuine.subarray(0, 20), randomBytes(body + 16)]);
        frame.writeBigUInt64BE(BigInt(counter + ahead), 12);
        return frame;
      }),
    );
    const short = [4, 20, 35].map((n) => genuine.subarray(0, n));
    const frames = [genuine, ...forged, ...short];
    const dropped = b.tunnels.stats.dropped;
    for (const frame of frames) stranger.send(frame, b.port, "127.0.0.1");
    await waitFor(() => b.tunnels.stats.dropped >= dropped + frames.length, "the stranger's frames to be dropped");
    expect(b.got.map((d) => d.payload.toString())).toEqual(["first"]);
    expect(b.tunnels.peers().find((p) => p.nodeId === 451)?.path).toBe("relay");
    // None of the forged counters moved B's window: A's next counter is still new.
    await a.tunnels.sendDatagram(452, 1, 7, Buffer.from("second"));
    await waitFor(() => b.got.length === 2, "A's second datagram");
    expect(b.got.map((d) => d.payload.toString())).toEqual(["first", "second"]);
  });
});

describe("path MTU discovery", () => {
  const LOOPBACK_MTU = firstHopMtu("127.0.0.1");
  const mtuOf = (n: Node, peer: number) => n.tunnels.peers().find((p) => p.nodeId === peer)?.mtu;

  it("finds a loopback path's MTU right after the exchange, on both sides, and the segment size follows it", async () => {
    const [a, b] = [await node(701), await node(702)];
    a.allowed.add(702);
    b.allowed.add(701);
    await a.tunnels.open(702);
    // Nothing confirmed yet: the base, and segments of its size.
    expect(mtuOf(a, 702)).toBe(BASE_PLPMTU);
    expect(a.tunnels.mss(702)).toBe(BASE_PLPMTU - 20 - STREAM_OVERHEAD);
    await waitFor(() => mtuOf(a, 702) === LOOPBACK_MTU, "the initiator to find the path's MTU");
    expect(a.tunnels.mss(702)).toBe(LOOPBACK_MTU - 20 - STREAM_OVERHEAD);
    // The side that answered the exchange probes once the peer's first sealed packet (here a probe)
    // has shown the path is the peer's.
    await waitFor(() => mtuOf(b, 701) === LOOPBACK_MTU, "the responder to find it too");
  });

  it("remembers what it found for the peer's endpoint: a tunnel set up again starts there", async () => {
    const [a, b] = [await node(711), await node(712)];
    a.allowed.add(712);
    b.allowed.add(711);
    await a.tunnels.open(712);
    await waitFor(() => mtuOf(a, 712) === LOOPBACK_MTU, "the path's MTU to be found");
    a.tunnels.drop(712);
    b.tunnels.drop(711);
    await a.tunnels.open(712);
    // At once, before any probe could have been answered.
    expect(mtuOf(a, 712)).toBe(LOOPBACK_MTU);
    expect(a.tunnels.mss(712)).toBe(LOOPBACK_MTU - 20 - STREAM_OVERHEAD);
  });
});
