/**
 * Agents end to end: a real local registry, a local STUN responder and real daemon processes on
 * loopback, each with its own PILOT_HOME, driven through `pilotctl --json` like an agent would.
 */
import { createSocket, type Socket } from "node:dgram";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newEphemeral } from "../../src/crypto/keys.ts";
import { Identity } from "../../src/identity.ts";
import { DatagramFrameReader, sendFrame } from "../../src/local-socket/datagram-frames.ts";
import { binaryHeader, encodeFrame, FrameReader } from "../../src/local-socket/frames.ts";
import { Pilot, type Datagram } from "../../src/sdk/pilot.ts";
import { helloBody, helloSigningInput } from "../../src/wire/tunnel.ts";
import { Operator } from "../local-registry.ts";
import { atLeast, befriend, SLOW_TEST_MS, trusts, waitFor } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { impersonate } from "./rogue.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

/** Subscribes to a port on a daemon over its socket and collects what arrives. */
async function inbox(d: Daemon, port: number) {
  const pilot = await Pilot.connect(d.home);
  const got: { node_id: number; data: string; at: number }[] = [];
  await pilot.receiveDatagrams(port, (m) => got.push({ node_id: m.nodeId, data: m.data.toString(), at: performance.now() }));
  return { got, close: () => pilot.close() };
}

/**
 * Opens a datagram connection on a daemon's socket as a stranger would, by hand, and writes `frames`
 * once it is open. Resolves with the reply and every error frame (its ref and code), once `errors`
 * of them have come, or once the daemon closes the connection.
 */
function datagramSession(d: Daemon, args: object, frames: Buffer[], errors = Infinity) {
  return new Promise<{ reply: Record<string, unknown>; errors: { ref: number; code: string }[]; closed: boolean }>((resolve) => {
    const s = connect(join(d.home, "pilot.sock"));
    const json = new FrameReader();
    const got: { ref: number; code: string }[] = [];
    let reply: Record<string, unknown> | undefined;
    const done = (closed: boolean) => {
      s.destroy();
      resolve({ reply: reply!, errors: got, closed });
    };
    const ignore = () => undefined;
    const binary = new DatagramFrameReader({
      send: ignore,
      sent: ignore,
      datagram: ignore,
      error: (ref, e) => {
        got.push({ ref, code: e.code });
        if (got.length >= errors) done(false);
      },
    });
    s.on("data", (chunk: Buffer) => {
      if (reply) return binary.push(chunk);
      json.append(chunk);
      reply = json.next() as Record<string, unknown> | undefined;
      if (!reply) return;
      for (const f of frames) s.write(f);
      binary.push(json.rest());
    });
    s.on("close", () => done(true));
    s.write(encodeFrame({ id: 1, cmd: "datagrams", args }));
  });
}

/** How many packets a daemon's data plane has dropped, as `pilotctl info` reports it. */
const droppedBy = async (d: Daemon): Promise<number> => (await d.run("info"))["packets"]["dropped"];

/**
 * Resolves once `d` has dropped `count` more packets than `before`: it has handled them, so any
 * reply or delivery they drew would already have been sent.
 */
const dropsCounted = (d: Daemon, before: number, count: number, what: string) => waitFor(async () => (await droppedBy(d)) >= before + count, what);

/** A raw UDP socket that records anything sent back to it. */
async function rawSocket() {
  const socket: Socket = createSocket("udp4");
  const replies: Buffer[] = [];
  socket.on("message", (m) => replies.push(m));
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return {
    replies,
    send: (b: Buffer, to: { address: string; port: number }) => new Promise<void>((r) => socket.send(b, to.port, to.address, () => r())),
    close: () => socket.close(),
  };
}

function signedHello(identity: Identity, sender: number, receiver: number, time = Date.now()): Buffer {
  const body = helloBody("initiate", sender, receiver, time, newEphemeral().publicKey);
  return Buffer.concat([body, Buffer.from(identity.sign(helloSigningInput(body)), "base64")]);
}

describe("private by default", () => {
  it("drops a stranger's traffic without a reply, delivers it after a handshake, and drops it again after untrust", async () => {
    const a = await cluster.daemon("a");
    const b = await cluster.daemon("b");
    const box = await inbox(b, 1001);

    // A stranger cannot even find B…
    const blind = await a.ctl("send-datagram", String(b.nodeId), "1001", "--data", "hi");
    expect(blind.error).toMatchObject({ code: "not_found" });
    // …and a key exchange it sends straight to B's endpoint, correctly signed, draws no answer.
    const raw = await rawSocket();
    const strangerHello = signedHello(Identity.fromSeed(a.identitySeed()), a.nodeId, b.nodeId);
    let dropped = await droppedBy(b);
    await raw.send(strangerHello, await b.endpoint());
    await dropsCounted(b, dropped, 1, "B to drop the stranger's key exchange");
    expect(raw.replies).toEqual([]);
    expect(box.got).toEqual([]);

    // The seed's trust flow, with the seed's returned fields.
    const sent = await a.run("handshake", String(b.nodeId), "want to collaborate on data analysis");
    expect(sent).toEqual({ status: "sent", node_id: b.nodeId, expires_at: null });
    const pending = await b.run("pending");
    expect(pending).toEqual({ pending: [{ node_id: a.nodeId, justification: "want to collaborate on data analysis", received_at: expect.any(String), ttl_seconds: null }] });
    expect(await b.run("approve", String(a.nodeId))).toEqual({ status: "approved", node_id: a.nodeId, expires_at: null });
    // `pilotctl trust` reads the registry's list, so each side shows the approval at once.
    for (const [me, peer] of [[a, b], [b, a]] as const) {
      expect(await me.run("trust")).toEqual({ trusted: [{ node_id: peer.nodeId, mutual: false, network: 0, approved_at: expect.any(String), expires_at: null }] });
    }
    expect(await a.run("send-datagram", String(b.nodeId), "1001", "--data", "hello, friend")).toMatchObject({ node_id: b.nodeId, bytes: 13 });
    // A client with A's key and a tunnel of its own is delivered too, while A is trusted.
    const rogue = await impersonate(cluster.registry.url, a);
    await rogue.sendDatagram(b.nodeId, 1, 1001, Buffer.from("from A's key"));
    await waitFor(() => box.got.length >= 2, "both datagrams to be delivered");
    expect(box.got.map((m) => [m.node_id, m.data])).toEqual([[a.nodeId, "hello, friend"], [a.nodeId, "from A's key"]]);

    // Untrust: B stops delivering even to a sender that keeps using its open tunnel.
    expect(await b.run("untrust", String(a.nodeId))).toEqual({ node_id: a.nodeId, revocation_id: expect.stringMatching(/^rv_/) });
    dropped = await droppedBy(b);
    await rogue.sendDatagram(b.nodeId, 1, 1001, Buffer.from("still there?")).catch(() => undefined);
    await raw.send(strangerHello, await b.endpoint());
    await dropsCounted(b, dropped, 2, "B to drop the datagram and the key exchange");
    expect(box.got.map((m) => m.data)).toEqual(["hello, friend", "from A's key"]);
    expect(raw.replies).toEqual([]);
    expect((await b.run("info"))["peers"]).toEqual([]);
    expect(await a.run("trust")).toEqual({ trusted: [] });
    rogue.close();
    raw.close();
    box.close();
  }, SLOW_TEST_MS);

  it("rejects with a reason, and the seed's fields", async () => {
    const a = await cluster.daemon("ra");
    const b = await cluster.daemon("rb");
    await a.run("handshake", String(b.nodeId), "may I?");
    expect(await b.run("reject", String(a.nodeId), "not this quarter")).toEqual({ status: "rejected", node_id: a.nodeId });
    expect(await b.run("pending")).toEqual({ pending: [] });
    expect(await a.run("trust")).toEqual({ trusted: [] });
    const again = await b.ctl("approve", String(a.nodeId));
    expect(again.error).toMatchObject({ code: "no_pending_request" });
    expect(again.code).toBe(1);
  }, SLOW_TEST_MS);

  it("approves crossing requests as a mutual handshake", async () => {
    const a = await cluster.daemon("ma", "--hostname", "mutual-a");
    const b = await cluster.daemon("mb", "--hostname", "mutual-b");
    expect((await a.run("handshake", "mutual-b", "want to connect"))["status"]).toBe("sent");
    expect(await b.run("handshake", "mutual-a", "want to connect")).toEqual({ status: "approved", node_id: a.nodeId, expires_at: null });
    expect(await a.run("trust")).toEqual({ trusted: [expect.objectContaining({ node_id: b.nodeId, mutual: true })] });
    expect(await b.run("trust")).toEqual({ trusted: [expect.objectContaining({ node_id: a.nodeId, mutual: true })] });
    const pong = await a.run("ping", "mutual-b", "--count", "3");
    expect(pong["results"]).toHaveLength(3);
    expect(pong["results"].every((r: { rtt_ms?: number }) => typeof r.rtt_ms === "number")).toBe(true);
  }, SLOW_TEST_MS);
});

describe("networks", () => {
  it("lets co-members who joined by URL exchange datagrams, and a removal cuts the node off: nothing sent after that is delivered", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const net = await operator.createNetwork();
    const a = await cluster.daemon("na");
    const b = await cluster.daemon("nb");
    expect(await a.run("join-network", net.join!.url)).toMatchObject({ network_id: net.network_id });
    expect(await b.run("join-network", String(net.network_id), "--token", net.join!.token)).toMatchObject({ network_id: net.network_id });
    expect((await a.run("networks"))["networks"]).toEqual([expect.objectContaining({ network_id: net.network_id })]);
    expect((await a.run("members", String(net.network_id)))["members"]).toHaveLength(2);
    // B lets members in once its channel to the network is in sync.
    const inSync = async (d: Daemon) => (await d.run("info"))["networks"].some((n: { network_id: number; synced: boolean }) => n.network_id === net.network_id && n.synced);
    await waitFor(() => inSync(b), "B's channel to the network to be in sync");
    const box = await inbox(b, 7);
    const delivered = (data: string) => waitFor(() => box.got.some((m) => m.data === data), `"${data}" to be delivered`);
    await a.run("send-datagram", String(b.nodeId), "7", "--data", "co-member hello");
    await delivered("co-member hello");
    expect(box.got.map((m) => m.data)).toEqual(["co-member hello"]);
    expect((await b.run("info"))["peers"]).toEqual([expect.objectContaining({ node_id: a.nodeId })]);
    // C, a member who stays, whose datagrams B delivers throughout.
    const c = await cluster.daemon("nc");
    await c.run("join-network", String(net.network_id), "--token", net.join!.token);
    await c.run("send-datagram", String(b.nodeId), "7", "--data", "C before");
    await delivered("C before");

    // A client with A's key keeps sending over its own tunnel while the owner removes A: only B's
    // enforcement can stop it. Each tick records whether B had been seen to cut A off.
    const rogue = await impersonate(cluster.registry.url, a);
    await rogue.sendDatagram(b.nodeId, 1, 7, Buffer.from("rogue hello"));
    let cutOff = false;
    let sending = true;
    const late: string[] = [];
    const sender = (async () => {
      for (let i = 0; sending; i++) {
        const tick = `tick ${i}`;
        if (cutOff) late.push(tick);
        await rogue.sendDatagram(b.nodeId, 1, 7, Buffer.from(tick)).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await delivered("tick 0");
    await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${a.nodeId}`);
    const removedAt = performance.now();
    // B hears of the removal on its channel to the network, apart from the registry's answer, and
    // cuts A off; how soon is the benchmark's to measure.
    await waitFor(async () => !(await b.call("info")).peers.some((p) => p.node_id === a.nodeId), "B to cut A off");
    cutOff = true;
    await waitFor(() => late.length >= 20, "twenty ticks sent after B cut A off");
    sending = false;
    await sender;
    // C's datagram goes to B after the rogue's last tick: once it is delivered, B has handled them all.
    await c.run("send-datagram", String(b.nodeId), "7", "--data", "C after");
    await delivered("C after");
    const fromA = box.got.filter((m) => m.node_id === a.nodeId);
    console.log(`network removal: last datagram delivered ${(fromA.at(-1)!.at - removedAt).toFixed(1)} ms after the registry answered`);
    expect(fromA.length).toBeGreaterThan(2);
    expect(fromA.filter((m) => late.includes(m.data))).toEqual([]);
    expect((await b.run("info"))["peers"].map((p: { node_id: number }) => p.node_id)).toEqual([c.nodeId]);
    rogue.close();
    box.close();
  }, SLOW_TEST_MS);
});

describe("the rest of the command set", () => {
  it("names, visibility, invitations and leaving, through pilotctl", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const net = await operator.createNetwork("invite");
    const a = await cluster.daemon("cmd-a");
    const b = await cluster.daemon("cmd-b");
    expect(await a.run("set-hostname", "cmd-alpha")).toEqual({ hostname: "cmd-alpha", node_id: a.nodeId });
    expect((await b.ctl("find", "cmd-alpha")).error).toMatchObject({ code: "not_found", hint: expect.stringMatching(/handshake/) });
    expect(await a.run("set-public")).toEqual({ node_id: a.nodeId, visibility: "public" });
    expect(await b.run("find", "cmd-alpha")).toEqual({ hostname: "cmd-alpha", node_id: a.nodeId, address: expect.any(String), public: true });
    expect(await a.run("set-private")).toEqual({ node_id: a.nodeId, visibility: "private" });
    // Changes made at run time survive a restart.
    expect(await a.run("set-public")).toMatchObject({ visibility: "public" });
    expect(await a.run("set-private")).toMatchObject({ visibility: "private" });
    await a.stop();
    await a.start();
    expect((await a.run("info"))["public"]).toBe(false);
    expect((await b.ctl("find", "cmd-alpha")).error).toMatchObject({ code: "not_found" });
    // A ping nobody answers fails cleanly, and the daemon stays up.
    expect((await a.run("ping", "3999999999", "--count", "1"))["results"]).toEqual([{ seq: 0, error: expect.stringMatching(/cannot be reached/) }]);
    // Nothing follows a failed ping to wait for: past its 3 s timeout, a timer it left behind would
    // have fired, and a crash from it shown.
    await atLeast(3500);
    expect((await a.run("daemon", "status"))["running"]).toBe(true);
    expect(await a.run("clear-hostname")).toEqual({ hostname: null, node_id: a.nodeId });
    expect((await b.ctl("find", "cmd-alpha")).error).toMatchObject({ code: "not_found" });

    await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(a.nodeId) });
    expect((await a.run("invitations"))["invitations"]).toEqual([expect.objectContaining({ network_id: net.network_id, name: net.name })]);
    expect(await a.run("accept-invitation", String(net.network_id))).toMatchObject({ network_id: net.network_id });
    expect((await a.run("members", String(net.network_id)))["members"].map((m: { node_id: number }) => m.node_id)).toEqual([a.nodeId]);
    expect(await a.run("leave-network", String(net.network_id))).toEqual({ network_id: net.network_id });
    expect(await a.run("networks")).toEqual({ networks: [] });
    await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(b.nodeId) });
    expect(await b.run("decline-invitation", String(net.network_id))).toEqual({ network_id: net.network_id });
    expect(await b.run("invitations")).toEqual({ invitations: [] });
    expect((await b.ctl("join-network", "https://elsewhere.example/join/3#token=abcdefgh")).error).toMatchObject({ code: "invalid_request" });
    expect((await b.ctl("join-network", "not-a-url")).error).toMatchObject({ code: "invalid_request", hint: expect.stringMatching(/join URL/) });
  }, SLOW_TEST_MS);
});

describe("the SDK", () => {
  it("lets programs on two machines exchange datagrams through their daemons", async () => {
    const a = await cluster.daemon("sdka");
    const b = await cluster.daemon("sdkb", "--hostname", "sdk-bravo");
    await a.run("handshake", "sdk-bravo", "programs talking");
    await b.run("approve", String(a.nodeId));
    await waitFor(() => trusts(a, b), "A to list B as trusted");
    const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    const received: Datagram[] = [];
    await pb.receiveDatagrams(4000, (d) => received.push(d));
    await pa.sendDatagram("sdk-bravo", 4000, new Uint8Array([0, 1, 2, 255]), 5000);
    await waitFor(() => received.length >= 1, "the datagram to be delivered");
    expect(received).toEqual([{ from: `0:0000.${"0000"}.${a.nodeId.toString(16).toUpperCase().padStart(4, "0")}`, nodeId: a.nodeId, srcPort: 5000, port: 4000, data: Buffer.from([0, 1, 2, 255]) }]);
    await expect(pa.sendDatagram("sdk-bravo", 4000, "x".repeat(70_000))).rejects.toMatchObject({ code: "invalid_argument" });
    pa.close();
    pb.close();
  }, SLOW_TEST_MS);
});

describe("restarts", () => {
  it("keep the identity, node ID and trust", async () => {
    const a = await cluster.daemon("sa");
    const b = await cluster.daemon("sb");
    await befriend(a, b, "long-term partners");
    const before = await b.run("info");
    await b.stop();
    expect((await b.ctl("info")).error).toMatchObject({ code: "not_running" });
    await b.start();
    const after = await b.run("info");
    expect(after["node_id"]).toBe(before["node_id"]);
    expect(after["public_key"]).toBe(before["public_key"]);
    expect(await b.run("trust")).toEqual({ trusted: [expect.objectContaining({ node_id: a.nodeId })] });
    const box = await inbox(b, 9);
    await a.run("send-datagram", String(b.nodeId), "9", "--data", "after the restart");
    await waitFor(() => box.got.length >= 1, "the datagram to be delivered");
    expect(box.got.map((m) => m.data)).toEqual(["after the restart"]);
    box.close();
  }, SLOW_TEST_MS);
});

describe("hostile input", () => {
  it("drops random, truncated, replayed and re-signed UDP packets without harm or reply", async () => {
    const a = await cluster.daemon("ha");
    const b = await cluster.daemon("hb");
    await befriend(a, b, "let me in");
    const to = await b.endpoint();
    const raw = await rawSocket();
    const aIdentity = Identity.fromSeed(a.identitySeed());
    const stranger = Identity.generate();

    // A genuine key exchange from a trusted node, sent by us, is answered once…
    const genuine = signedHello(aIdentity, a.nodeId, b.nodeId);
    await raw.send(genuine, to);
    await waitFor(() => raw.replies.length >= 1, "B's answer");
    expect(raw.replies.length).toBe(1);
    expect(raw.replies[0]!.subarray(0, 4).toString()).toBe("PILA");
    // …and not again when replayed, nor when altered or signed by another key.
    const bent = Buffer.from(genuine);
    bent[12]! ^= 1;
    const resigned = signedHello(stranger, a.nodeId, b.nodeId, Date.now() + 5);
    const stale = signedHello(aIdentity, a.nodeId, b.nodeId, Date.now() - 120_000);
    const junk = [
      genuine, bent, resigned, stale,
      genuine.subarray(0, 60),
      Buffer.from("PILT plaintext frames are never accepted"),
      Buffer.concat([Buffer.from("PILS"), Buffer.alloc(60)]),
      ...Array.from({ length: 50 }, (_, i) => Buffer.from(Array.from({ length: 1 + ((i * 37) % 1400) }, (_, j) => (i * 131 + j * 7) & 0xff))),
    ];
    const dropped = await droppedBy(b);
    for (const packet of junk) await raw.send(packet, to);
    await dropsCounted(b, dropped, junk.length, "B to drop every packet");
    expect(raw.replies.length).toBe(1);
    const info = await b.run("info");
    expect(info["packets"]["dropped"]).toBeGreaterThanOrEqual(junk.length);
    // Still serving its real peer.
    const box = await inbox(b, 11);
    await a.run("send-datagram", String(b.nodeId), "11", "--data", "still fine");
    await waitFor(() => box.got.length >= 1, "the datagram to be delivered");
    expect(box.got.map((m) => m.data)).toEqual(["still fine"]);
    box.close();
    raw.close();
  }, SLOW_TEST_MS);

  it("refuses garbage and oversized frames on the local socket and keeps running", async () => {
    const b = await cluster.daemon("sock");
    /** Sends bytes on a fresh connection; resolves with the body of the one reply frame, or what came before the socket closed. */
    const exchange = (bytes: Buffer) =>
      new Promise<string>((resolve) => {
        const s = connect(join(b.home, "pilot.sock"));
        let got = Buffer.alloc(0);
        const done = () => {
          s.destroy();
          resolve(got.subarray(4, 4 + (got.length >= 4 ? got.readUInt32BE(0) : 0)).toString());
        };
        s.on("data", (d) => {
          got = Buffer.concat([got, d]);
          if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) done();
        });
        s.on("close", done);
        s.on("error", done);
        s.write(bytes);
      });
    const frame = (body: string) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(Buffer.byteLength(body), 0);
      return Buffer.concat([h, Buffer.from(body)]);
    };
    expect(JSON.parse(await exchange(frame("{not json")))).toMatchObject({ ok: false, error: { code: "invalid_frame" } });
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(50 * 1024 * 1024, 0);
    expect(JSON.parse(await exchange(huge))).toMatchObject({ ok: false, error: { code: "invalid_frame" } });
    expect(JSON.parse(await exchange(frame('{"id":1,"cmd":"ping","args":{"target":"x","count":0}}')))).toMatchObject({ id: 1, ok: false, error: { code: "invalid_argument" } });
    expect(JSON.parse(await exchange(frame('{"id":2,"cmd":"__proto__"}')))).toMatchObject({ id: 2, ok: false, error: { code: "invalid_argument" } });
    expect(JSON.parse(await exchange(frame("[1,2,3]")))).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    expect((await b.run("info"))["node_id"]).toBe(b.nodeId);
  }, SLOW_TEST_MS);

  it("answers each bad datagram send under its ref, ends a datagram connection whose framing breaks, and keeps running", async () => {
    const b = await cluster.daemon("dgram-sock");
    const send = (ref: number, target: string, port: number, payload = Buffer.from("x")) => sendFrame({ ref, target, port, srcPort: 0, payload });
    // The opener's own arguments are checked like any command's.
    expect((await datagramSession(b, { port: 0 }, [])).reply).toMatchObject({ ok: false, error: { code: "invalid_argument" } });
    // A bad send is refused on its own; the connection carries on.
    // Node IDs out of range (0, past 32 bits, beyond the integers) and this node's own ID are refused
    // as they are, not taken to the registry or the tunnel layer.
    const outOfRange = ["0", "4294967295", "4294967296", "99999999999", "9".repeat(80), String(b.nodeId)];
    const sends = [send(1, "1001", 0), send(2, "not a name!", 7), send(3, "1001", 7, Buffer.alloc(60_001)), send(4, "nobody-here", 7), ...outOfRange.map((target, i) => send(5 + i, target, 7))];
    const bad = await datagramSession(b, {}, sends, sends.length);
    expect(bad.errors).toHaveLength(sends.length);
    expect(bad.errors).toEqual(
      expect.arrayContaining([
        { ref: 1, code: "invalid_argument" },
        { ref: 2, code: "invalid_argument" },
        { ref: 3, code: "invalid_argument" },
        { ref: 4, code: "not_found" },
        ...outOfRange.map((_, i) => ({ ref: 5 + i, code: "invalid_argument" })),
      ]),
    );
    expect(bad.closed).toBe(false);
    // So are they for a ping.
    for (const target of ["4294967296", String(b.nodeId)]) expect((await b.ctl("ping", target, "--count", "1")).error, target).toMatchObject({ code: "invalid_argument" });
    // A frame that breaks the framing ends the connection: an unknown kind, an oversized length, a
    // kind only the daemon sends, a target running past the frame's end, and a send under ref 0
    // (the ref of the daemon's error for the whole connection).
    const pastTheEnd = Buffer.concat([binaryHeader(0, 12), Buffer.from([0, 0, 0, 1, 0, 7, 0, 0, 0, 100]), Buffer.from("ab")]);
    for (const broken of [binaryHeader(9, 0), binaryHeader(0, 0x7fffffff), Buffer.concat([binaryHeader(1, 8), Buffer.alloc(8)]), pastTheEnd, send(0, "1001", 7)]) {
      expect(await datagramSession(b, {}, [broken])).toMatchObject({ errors: [{ ref: 0, code: "invalid_frame" }], closed: true });
    }
    expect((await b.run("info"))["node_id"]).toBe(b.nodeId);
  }, SLOW_TEST_MS);

  it("will not start on a corrupt identity, and says how to recover", async () => {
    const d = await cluster.daemon("corrupt");
    await d.stop();
    const { writeFileSync, readFileSync } = await import("node:fs");
    writeFileSync(join(d.home, "identity.json"), '{"version":1,"private_key":"broken"', { mode: 0o600 });
    const r = await d.ctl("daemon", "start");
    expect(r.ok).toBe(false);
    // The daemon's own error, read back from its log: its code, the file, and what to do.
    expect(r.error).toMatchObject({ code: "corrupt_file", message: expect.stringContaining(join(d.home, "identity.json")), hint: expect.stringMatching(/restore it from a backup/) });
    expect(readFileSync(join(d.home, "identity.json"), "utf8")).toBe('{"version":1,"private_key":"broken"');
  }, SLOW_TEST_MS);

  it("answers bad command lines with usage errors and exit code 2", async () => {
    const b = await cluster.daemon("cli");
    for (const args of [["approve", "abc"], ["approve"], ["handshake", "x"], ["listen", "70000"], ["frobnicate"], ["send-datagram", "1", "7"], ["info", "--no-such-flag"]]) {
      const r = await b.ctl(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.error).toMatchObject({ code: "invalid_argument", hint: expect.any(String) });
    }
    const context = await b.run("context");
    expect(Object.keys(context["commands"])).toEqual(
      expect.arrayContaining(["daemon start", "handshake", "pending", "approve", "reject", "trust", "untrust", "network join", "send-datagram", "listen", "ping", "info", "find"]),
    );
  }, SLOW_TEST_MS);
});
