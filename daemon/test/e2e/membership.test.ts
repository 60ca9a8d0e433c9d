/**
 * The Networks seed's main flow with running daemons: an owner adds, removes, re-adds, invites and
 * deletes through the API the console uses, and the agents' daemons follow at once, with no
 * restart. Also the races: changes while a daemon restarts or its channels are cut, adds racing
 * removals, two owners' changes interleaved. The end state always equals the registry's, and no
 * daemon accepts traffic the registry has already revoked.
 */
import { readFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pilot, type DaemonEvent, type PilotConnection } from "../../src/sdk/pilot.ts";
import type { Member, Membership } from "@pilot/protocol";
import { Operator } from "../local-registry.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { impersonate } from "./rogue.ts";
import { keepWriting } from "./live-stream.ts";
import { waitFor } from "../wait.ts";

// Each test starts several daemon processes and drives them through pilotctl: slow on a busy machine.
const E2E_TIMEOUT = 120_000;

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);


/** Collects the datagrams arriving on a port of a daemon. */
async function inbox(d: Daemon, port: number) {
  const pilot = await Pilot.connect(d.home);
  const got: { node_id: number; data: string }[] = [];
  await pilot.receiveDatagrams(port, (m) => got.push({ node_id: m.nodeId, data: m.data.toString() }));
  return { got, texts: () => got.map((g) => g.data), close: () => pilot.close() };
}

/** The networks whose members a daemon honours now (its channel to each is in sync). */
async function synced(d: Daemon): Promise<number[]> {
  const info = await d.run("info");
  return (info["networks"] as { network_id: number; synced: boolean }[]).filter((n) => n.synced).map((n) => n.network_id).sort((x, y) => x - y);
}

/** The networks the registry lists for a daemon's node, read with the node's own key. */
async function registryList(d: Daemon): Promise<number[]> {
  return ((await d.run("networks"))["networks"] as Membership[]).map((n) => n.network_id).sort((x, y) => x - y);
}

/** Waits until the daemon honours exactly the networks the registry lists for it. */
async function inStep(d: Daemon): Promise<number[]> {
  let list: number[] = [];
  await waitFor(async () => {
    list = await registryList(d);
    return JSON.stringify(await synced(d)) === JSON.stringify(list);
  }, `${d.name} to follow the registry`, 60_000);
  return list;
}

/** A stream to the peer's built-in echo service and back: both directions of a connection work. */
async function echoes(from: Daemon, to: Daemon, text: string): Promise<string> {
  const pilot = await Pilot.connect(from.home);
  try {
    const conn = await pilot.dial(to.nodeId, 7);
    conn.end(text);
    const chunks: Buffer[] = [];
    for await (const chunk of conn) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  } finally {
    pilot.close();
  }
}

type Inbox = Awaited<ReturnType<typeof inbox>>;

/**
 * Sends a datagram until one arrives: datagrams are unreliable, and the receiver may hear of the
 * sender's membership a moment after the sender hears of the receiver's.
 */
const delivered = (from: Daemon, to: Daemon, box: Inbox, text: string) =>
  waitFor(async () => {
    await from.ctl("send-datagram", String(to.nodeId), "1001", "--data", text);
    return box.texts().includes(text);
  }, `"${text}" from ${from.name} to ${to.name}`);

const members = async (op: Operator, networkId: number) =>
  (await op.request<{ members: Member[] }>("GET", `/v1/networks/${networkId}/members`)).members;

/** A TCP relay between daemons and the registry that a test can cut, as a flaky path would. */
async function cuttablePath(registryUrl: string) {
  const target = new URL(registryUrl);
  const open = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client: Socket) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
    },
    restore() {
      cut = false;
    },
    /** Cuts every connection for good: the daemons behind it lose the registry. */
    close(): Promise<void> {
      this.cut();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("an owner's changes reach running daemons", () => {
  it("adds two running enrolled agents: they talk both ways with no restart; removal cuts one off, a re-add restores it", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const key = await operator.enrollmentKey();
    const a = await cluster.daemon("live-a", "--enroll", key);
    const b = await cluster.daemon("live-b", "--enroll", key);
    const net = await operator.createNetwork("invite");
    const [boxA, boxB] = [await inbox(a, 1001), await inbox(b, 1001)];
    expect(await synced(a)).toEqual([]);

    for (const d of [a, b]) {
      expect(await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) })).toMatchObject({ result: "added" });
    }
    for (const d of [a, b]) expect(await inStep(d)).toEqual([net.network_id]);
    // The console's member list shows both online: each daemon holds the network's channel.
    await waitFor(async () => (await members(operator, net.network_id)).every((m) => m.online), "both online");
    await delivered(a, b, boxB, "a to b");
    await delivered(b, a, boxA, "b to a");
    expect(await echoes(a, b, "stream a→b→a")).toBe("stream a→b→a");
    expect(await echoes(b, a, "stream b→a→b")).toBe("stream b→a→b");

    // A client with B's key holds an open tunnel to A, and keeps using it after the removal.
    const rogue = await impersonate(cluster.registry.url, b);
    await rogue.sendDatagram(a.nodeId, 1, 1001, Buffer.from("rogue while a member"));
    await waitFor(() => boxA.texts().includes("rogue while a member"), "the rogue's first datagram");
    await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${b.nodeId}`);
    await rogue.sendDatagram(a.nodeId, 1, 1001, Buffer.from("rogue after removal")).catch(() => undefined);
    expect((await b.ctl("send-datagram", String(a.nodeId), "1001", "--data", "hi")).error).toMatchObject({ code: "not_found" });
    expect(await inStep(b)).toEqual([]);
    expect((await a.run("info"))["peers"]).toEqual([]);

    await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(b.nodeId) });
    expect(await inStep(b)).toEqual([net.network_id]);
    await delivered(a, b, boxB, "again");
    await delivered(b, a, boxA, "back again");
    // The datagram sent after the removal never arrived, though later ones on the same port did.
    expect(boxA.texts()).not.toContain("rogue after removal");
    expect(await echoes(b, a, "restored")).toBe("restored");
    rogue.close();
    boxA.close();
    boxB.close();
  }, E2E_TIMEOUT);

  it("deleting the network cuts off what only it granted, and keeps trust its members approved by hand", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const key = await operator.enrollmentKey();
    const [a, b, c] = [await cluster.daemon("del-a", "--enroll", key), await cluster.daemon("del-b", "--enroll", key), await cluster.daemon("del-c", "--enroll", key)];
    // A and B trust each other by hand before any network exists.
    await a.run("handshake", String(b.nodeId), "before the network");
    await b.run("approve", String(a.nodeId));
    await waitFor(async () => (await a.call("trust")).trusted.length === 1, "A to hear B approved");
    const net = await operator.createNetwork();
    for (const d of [a, b, c]) await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
    for (const d of [a, b, c]) await inStep(d);
    const box = await inbox(a, 1001);
    await delivered(c, a, box, "c while in the network");
    const rogueC = await impersonate(cluster.registry.url, c);
    await rogueC.sendDatagram(a.nodeId, 1, 1001, Buffer.from("c's key, before"));
    await waitFor(() => box.texts().includes("c's key, before"), "the rogue's datagram");

    await operator.request("DELETE", `/v1/networks/${net.network_id}`);
    for (const d of [a, b, c]) expect(await inStep(d)).toEqual([]);
    await rogueC.sendDatagram(a.nodeId, 1, 1001, Buffer.from("c's key, after")).catch(() => undefined);
    expect((await c.ctl("send-datagram", String(a.nodeId), "1001", "--data", "c after")).error).toMatchObject({ code: "not_found" });
    // Hand-approved trust stands: B still reaches A, and that later datagram bounds the check above.
    await delivered(b, a, box, "b after the deletion");
    expect(box.texts()).not.toContain("c's key, after");
    expect((await a.run("trust"))["trusted"]).toEqual([expect.objectContaining({ node_id: b.nodeId, network: 0 })]);
    rogueC.close();
    box.close();
  }, E2E_TIMEOUT);

  it("announces an invitation to a running foreign agent, which accepts and is in at once", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const key = await operator.enrollmentKey();
    const own = await cluster.daemon("inv-own", "--enroll", key);
    const guest = await cluster.daemon("inv-guest", "--hostname", `guest-${Date.now().toString(36)}`);
    const net = await operator.createNetwork("invite");
    await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(own.nodeId) });
    const pilot = await Pilot.connect(guest.home);
    const events: DaemonEvent[] = [];
    await pilot.events((e) => events.push(e));

    const hostname = (await guest.run("info"))["hostname"] as string;
    expect(await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: hostname })).toMatchObject({ result: "invited" });
    await waitFor(() => events.some((e) => e.type === "invitation_received"), "the SDK event");
    expect(events.find((e) => e.type === "invitation_received")).toEqual({
      type: "invitation_received",
      network_id: net.network_id,
      name: net.name,
      expires_at: expect.any(String),
    });
    expect((await guest.run("invitations"))["invitations"]).toEqual([expect.objectContaining({ network_id: net.network_id, name: net.name })]);
    expect(readFileSync(join(guest.home, "pilot.log"), "utf8")).toContain(`invited to network ${net.network_id} (${net.name})`);
    expect(readFileSync(join(guest.home, "pilot.log"), "utf8")).toContain(`pilotctl accept-invitation ${net.network_id}`);
    expect(await synced(guest)).toEqual([]);

    expect(await guest.run("accept-invitation", String(net.network_id))).toMatchObject({ network_id: net.network_id });
    expect(await inStep(guest)).toEqual([net.network_id]);
    await waitFor(async () => (await guest.ctl("ping", String(own.nodeId), "--count", "1")).data["results"]?.[0]?.rtt_ms !== undefined, "the owner's agent to honour the guest");
    expect(await echoes(own, guest, "welcome")).toBe("welcome");
    await waitFor(() => events.some((e) => e.type === "network_added"), "the SDK event for the add");
    expect(events.find((e) => e.type === "network_added")).toEqual({ type: "network_added", network_id: net.network_id, name: net.name, how: "invitation_accepted" });
    await waitFor(() => events.some((e) => e.type === "network_synced"), "the SDK event for the channel in sync");
    expect(events.find((e) => e.type === "network_synced")).toEqual({ type: "network_synced", network_id: net.network_id, members: 2 });

    // A withdrawn invitation is announced too.
    const other = await Operator.signUp(cluster.registry.url);
    const second = await other.createNetwork("invite");
    await other.request("POST", `/v1/networks/${second.network_id}/members`, { node: hostname });
    await other.request("DELETE", `/v1/networks/${second.network_id}/invitations/${hostname}`);
    await waitFor(() => events.some((e) => e.type === "invitation_ended"), "the withdrawal");
    expect(events.find((e) => e.type === "invitation_ended")).toEqual({ type: "invitation_ended", network_id: second.network_id, reason: "withdrawn" });
    expect((await guest.run("invitations"))["invitations"]).toEqual([]);
    pilot.close();
  }, E2E_TIMEOUT);
});

describe("live streams end with the membership", () => {
  it.each(["the owner removes the node", "the node leaves", "the owner deletes the network"])("when %s, its live stream fails on both sides and nothing more is delivered", async (how) => {
    const operator = await Operator.signUp(cluster.registry.url);
    const key = await operator.enrollmentKey();
    const a = await cluster.daemon(`cut-${how.length}-a`, "--enroll", key);
    const b = await cluster.daemon(`cut-${how.length}-b`, "--enroll", key);
    const net = await operator.createNetwork();
    for (const d of [a, b]) await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
    for (const d of [a, b]) await inStep(d);
    const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
    const accepted: PilotConnection[] = [];
    const server = await pb.listen(2000, (conn) => accepted.push(conn));
    const conn = await pa.dial(b.nodeId, 2000);
    await waitFor(() => accepted.length === 1, "B to accept");
    const far = accepted[0]!;
    const { cut, writing } = keepWriting(conn, far, 64 * 1024);
    await waitFor(() => cut.received > 4 << 20, "4 MiB to arrive");

    if (how.endsWith("removes the node")) await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${a.nodeId}`);
    else if (how.endsWith("leaves")) await a.run("leave-network", String(net.network_id));
    else await operator.request("DELETE", `/v1/networks/${net.network_id}`);
    await waitFor(() => cut.near !== undefined && cut.far !== undefined, "both ends to fail");
    expect(cut.near).toMatchObject({ code: "peer_cut_off" });
    expect(cut.far).toMatchObject({ code: "peer_cut_off" });
    await writing;
    expect(cut.received).toBe(cut.receivedAtCut);
    await expect(pa.dial(b.nodeId, 2000)).rejects.toMatchObject({ code: "not_found" });
    server.close();
    pa.close();
    pb.close();
  }, E2E_TIMEOUT);
});

describe("enrollment", () => {
  it("keeps the enrollment key out of the daemon's command line, where any local user could read it", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const key = await operator.enrollmentKey();
    const d = await cluster.daemon("enroll-ps", "--enroll", key);
    const pid = readFileSync(join(d.home, "pilot.pid"), "utf8").trim();
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    expect(commandLine).toContain("pilot-daemon");
    expect(commandLine).not.toContain(key);
    // It was used all the same: the node is the account's, so the owner adds it at once.
    const net = await operator.createNetwork("invite");
    expect(await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) })).toMatchObject({ result: "added" });
  }, E2E_TIMEOUT);
});

describe("races: the end state is the registry's", () => {
  it("an add while the daemon restarts, and adds racing removals", async () => {
    const operator = await Operator.signUp(cluster.registry.url);
    const key = await operator.enrollmentKey();
    const d = await cluster.daemon("race-d", "--enroll", key);
    const peer = await cluster.daemon("race-peer", "--enroll", key);
    const net = await operator.createNetwork();
    const path = `/v1/networks/${net.network_id}/members`;
    await operator.request("POST", path, { node: String(peer.nodeId) });

    // Added while stopped, and while starting.
    await d.stop();
    await operator.request("POST", path, { node: String(d.nodeId) });
    await d.start();
    expect(await inStep(d)).toEqual([net.network_id]);
    await operator.request("DELETE", `${path}/${d.nodeId}`);
    await d.stop();
    await Promise.all([d.start(), operator.request("POST", path, { node: String(d.nodeId) })]);
    expect(await inStep(d)).toEqual([net.network_id]);

    // Adds and removals fired together, several rounds; each round ends where the registry says.
    for (let round = 0; round < 4; round++) {
      const changes = [operator.request("DELETE", `${path}/${d.nodeId}`).catch(() => undefined), operator.request("POST", path, { node: String(d.nodeId) })];
      await Promise.all(round % 2 ? changes.reverse() : changes);
      await inStep(d);
    }
    // Whatever the last round left, the peer's view agrees with D's.
    const inNetwork = (await registryList(d)).includes(net.network_id);
    const box = await inbox(d, 1001);
    if (inNetwork) await delivered(peer, d, box, "hello");
    else expect((await peer.ctl("send-datagram", String(d.nodeId), "1001", "--data", "hello")).error).toMatchObject({ code: "not_found" });
    box.close();
  }, E2E_TIMEOUT);

  it("changes made while a daemon's channels are cut apply when they return; a late event never undoes a newer change", async () => {
    const path = await cuttablePath(cluster.registry.url);
    const [first, second] = [await Operator.signUp(cluster.registry.url), await Operator.signUp(cluster.registry.url)];
    const [key1, key2] = [await first.enrollmentKey(), await second.enrollmentKey()];
    const [net1, net2] = [await first.createNetwork(), await second.createNetwork("invite")];
    const d = await cluster.daemon("cut-d", "--enroll", key1, "--registry", path.url);
    const x = await cluster.daemon("cut-x", "--enroll", key1);
    const y = await cluster.daemon("cut-y", "--enroll", key2);
    const add = (op: Operator, net: number, node: Daemon) => op.request("POST", `/v1/networks/${net}/members`, { node: String(node.nodeId) });
    const remove = (op: Operator, net: number, node: Daemon) => op.request("DELETE", `/v1/networks/${net}/members/${node.nodeId}`);
    await add(first, net1.network_id, d);
    await add(first, net1.network_id, x);
    await add(second, net2.network_id, y);
    await inStep(d);
    const box = await inbox(d, 1001);
    // X's key, through a tunnel of its own, is honoured while X is a member.
    const rogueX = await impersonate(cluster.registry.url, x);
    await rogueX.sendDatagram(d.nodeId, 1, 1001, Buffer.from("x while a member"));
    await waitFor(() => box.texts().includes("x while a member"), "X's datagram");

    // D's path to the registry fails. Meanwhile the first owner removes, re-adds and removes D, and
    // the second owner invites it; the events queue in D's inbox, the last removal the newest.
    path.cut();
    await remove(first, net1.network_id, d);
    await add(first, net1.network_id, d);
    await remove(first, net1.network_id, d);
    await second.request("POST", `/v1/networks/${net2.network_id}/members`, { node: String(d.nodeId) });
    // While cut off from the registry, D honours none of net1's members.
    await rogueX.sendDatagram(d.nodeId, 1, 1001, Buffer.from("x while cut")).catch(() => undefined);
    path.restore();

    expect(await inStep(d)).toEqual([]);
    await waitFor(async () => (await d.call("invitations")).invitations.length === 1, "the invitation to be announced");
    await d.run("accept-invitation", String(net2.network_id));
    expect(await inStep(d)).toEqual([net2.network_id]);
    await rogueX.sendDatagram(d.nodeId, 1, 1001, Buffer.from("x after")).catch(() => undefined);
    await delivered(y, d, box, "y in net2");
    expect(box.texts().filter((t) => t.startsWith("x "))).toEqual(["x while a member"]);
    const log = readFileSync(join(d.home, "pilot.log"), "utf8");
    expect(log).toContain(`no longer in network ${net1.network_id}`);
    rogueX.close();
    box.close();
    await path.close();
  }, E2E_TIMEOUT);
});
