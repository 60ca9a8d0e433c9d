/**
 * A node's identity end to end, with real daemons and a real registry: rotating its key (peers
 * follow without a manual step, and the old key, with a certificate issued to it, opens nothing),
 * looking a node up through the privacy gate, closing one stream connection, and deregistering.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PilotError } from "../../src/errors.ts";
import type { ArgsParam, CallName, DaemonEvent, Result } from "../../src/local-socket/contract.ts";
import { peerInfo } from "../../src/dataplane/tunnel/peer-directory.ts";
import { Identity } from "../../src/identity.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { Operator } from "../local-registry.ts";
import { befriend, SLOW_TEST_MS, trusts, waitFor, within } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { impersonate } from "./rogue.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

/** Two daemons of an operator's that trust each other and share its network. */
async function partners(name: string): Promise<{ a: Daemon; b: Daemon; networkId: number }> {
  const operator = await Operator.signUp(cluster.registry.url);
  const enroll = await operator.enrollmentKey();
  const a = await cluster.daemon(`${name}-a`, "--enroll", enroll);
  const b = await cluster.daemon(`${name}-b`, "--enroll", enroll);
  const net = await operator.createNetwork("invite");
  for (const d of [a, b]) await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
  // Co-members' handshakes are approved at once: trust their network vouched for.
  expect(await a.run("handshake", String(b.nodeId), "identity tests")).toMatchObject({ status: "approved" });
  await waitFor(async () => (await trusts(a, b)) && (await trusts(b, a)), "A and B to trust each other");
  return { a, b, networkId: net.network_id };
}

/** A command through the SDK, as pilotctl will run it (its command line is the lead's to wire). */
async function call<K extends CallName>(d: Daemon, cmd: K, ...args: ArgsParam<K>): Promise<Result<K>> {
  const pilot = await Pilot.connect(d.home);
  try {
    return await pilot.call(cmd, ...args);
  } finally {
    pilot.close();
  }
}

/** The error a command fails with. */
async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; hint: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PilotError) return { code: e.code, message: e.message, hint: e.hint };
    throw e;
  }
  throw new Error("the command succeeded");
}

async function inbox(d: Daemon, port: number) {
  const pilot = await Pilot.connect(d.home);
  const got: string[] = [];
  await pilot.receiveDatagrams(port, (m) => got.push(m.data.toString()));
  return { got, close: () => pilot.close() };
}

/** A stream echo service on `port` of `d`: what `send` sends comes back. */
async function echo(d: Daemon, port: number) {
  const pilot = await Pilot.connect(d.home);
  await pilot.listen(port, (conn) => conn.pipe(conn));
  return pilot;
}

async function events(d: Daemon) {
  const pilot = await Pilot.connect(d.home);
  const seen: DaemonEvent[] = [];
  await pilot.events((e) => seen.push(e));
  return { seen, close: () => pilot.close() };
}

describe("rotate-key", () => {
  it(
    "moves a node to a new key: its partner follows with no manual step, and the old key and its certificate open nothing",
    async () => {
      const { a, b, networkId } = await partners("rot");
      const before = await a.run("info");
      // Someone who holds A's key as it is now: a certificate issued to it, and two tunnel layers
      // that speak as A, one of which opens a tunnel to B now and keeps it.
      const oldKey = new RegistryClient({ url: cluster.registry.url, identity: Identity.fromSeed(a.identitySeed()) });
      const oldCertificate = Buffer.from((await oldKey.certificate()).certificate, "base64");
      const whereB = peerInfo(await oldKey.resolve(b.nodeId));
      const [early, late] = [await impersonate(cluster.registry.url, a, undefined, () => oldCertificate), await impersonate(cluster.registry.url, a, undefined, () => oldCertificate)];
      const box = await inbox(b, 1001);
      early.learn(whereB);
      await early.sendDatagram(b.nodeId, 1, 1001, Buffer.from("old key before"));
      await waitFor(() => box.got.includes("old key before"), "the old key's datagram before the rotation");
      const heard = await events(b);

      // Through pilotctl, as a user runs it (with the node ID, as the reference's scripts name it).
      const rotated = await a.run("rotate-key", String(a.nodeId));
      expect(rotated).toMatchObject({ node_id: a.nodeId, address: before["address"] });
      expect(rotated["public_key"]).not.toBe(before["public_key"]);
      expect((await a.run("info"))["public_key"]).toBe(rotated["public_key"]);
      await waitFor(() => heard.seen.some((e) => e.type === "key_rotated" && e.node_id === a.nodeId), "B to hear of A's new key");
      expect(heard.seen.find((e) => e.type === "key_rotated")).toMatchObject({ public_key: rotated["public_key"], rotated_at: rotated["rotated_at"] });

      // A fresh exchange signed with the old key, carrying the certificate issued to it, is refused.
      late.learn(whereB);
      await expect(late.sendDatagram(b.nodeId, 1, 1001, Buffer.from("old key, fresh exchange"))).rejects.toMatchObject({ code: "no_path" });
      // The tunnel the old key set up is gone too.
      await early.sendDatagram(b.nodeId, 1, 1001, Buffer.from("old key, old tunnel")).catch(() => undefined);

      // Both ways, streams open at once with the new key.
      const [echoA, echoB] = [await echo(a, 1000), await echo(b, 1000)];
      expect(await a.run("send", String(b.nodeId), "1000", "--data", "a to b")).toMatchObject({ response: "a to b" });
      expect(await b.run("send", String(a.nodeId), "1000", "--data", "b to a")).toMatchObject({ response: "b to a" });
      // A's datagram after the old key's: B has handled theirs by the time it has A's.
      await a.run("send-datagram", String(b.nodeId), "1001", "--data", "new key");
      await waitFor(() => box.got.includes("new key"), "A's datagram with its new key");
      expect(box.got).not.toContain("old key, fresh exchange");
      expect(box.got).not.toContain("old key, old tunnel");

      // Trust and the network are kept on both sides.
      expect(await trusts(a, b)).toBe(true);
      expect(await trusts(b, a)).toBe(true);
      for (const d of [a, b]) expect((await d.run("networks"))["networks"].map((n: { network_id: number }) => n.network_id)).toEqual([networkId]);
      expect((await call(b, "lookup", { target: String(a.nodeId) })).public_key).toBe(rotated["public_key"]);

      // A stream open across a second move carries on, with no one touching it.
      const pa = await Pilot.connect(a.home);
      const live = await pa.dial(String(b.nodeId), 1000);
      let echoed = "";
      live.on("data", (c: Buffer) => (echoed += c.toString()));
      live.write("before the move");
      await waitFor(() => echoed === "before the move", "the echo before the second move");
      const again = await call(a, "rotate-key");
      expect(again.public_key).not.toBe(rotated["public_key"]);
      live.write(", and after");
      await waitFor(() => echoed === "before the move, and after", "the echo after the second move");
      live.end();
      pa.close();

      // A restarted keeps its new key and its node, and B reaches it.
      echoA.close();
      await a.stop();
      expect(existsSync(join(a.home, "identity.next.json"))).toBe(false);
      await a.start();
      expect(await a.run("info")).toMatchObject({ node_id: before["node_id"], public_key: again.public_key });
      const echoAgain = await echo(a, 1000);
      expect(await b.run("send", String(a.nodeId), "1000", "--data", "after restart")).toMatchObject({ response: "after restart" });

      for (const c of [echoAgain, echoB, heard, box]) c.close();
      early.close();
      late.close();
    },
    SLOW_TEST_MS,
  );

  it(
    "refuses a node ID that is not this node's, and a malformed one",
    async () => {
      const d = await cluster.daemon("rot-args");
      const key = (await d.run("info"))["public_key"];
      const pilot = await Pilot.connect(d.home);
      expect(await refusal(pilot.call("rotate-key", { node_id: d.nodeId + 1 }))).toMatchObject({ code: "invalid_argument", message: `this daemon is node ${d.nodeId}, not node ${d.nodeId + 1}` });
      for (const node_id of [0, -1, 1.5, 2 ** 32]) {
        await expect(pilot.call("rotate-key", { node_id })).rejects.toMatchObject({ code: "invalid_argument" });
      }
      await expect(pilot.call("rotate-key", { node_id: String(d.nodeId) } as never)).rejects.toMatchObject({ code: "invalid_argument" });
      await expect(pilot.call("rotate-key", { node_id: d.nodeId, owner: "me" } as never)).rejects.toMatchObject({ code: "invalid_argument" });
      pilot.close();
      expect((await d.run("info"))["public_key"]).toBe(key);
    },
    SLOW_TEST_MS,
  );
});

describe("lookup", () => {
  it(
    "shows a node this node may see, and answers a private stranger exactly as a node that does not exist",
    async () => {
      const { a, b, networkId } = await partners("look");
      const stranger = await cluster.daemon("look-stranger", "--hostname", "look-stranger");
      const seen = await a.run("lookup", String(b.nodeId));
      const info = await b.run("info");
      expect(seen).toEqual({
        node_id: b.nodeId,
        address: info["address"],
        public_key: info["public_key"],
        public: false,
        hostname: null,
        real_addr: info["endpoint"],
        networks: [networkId],
        online: true,
        last_seen: expect.any(String),
      });
      // By node ID and by hostname: the same error, word for word but the name.
      const lookup = async (target: string) => {
        const { code: exit, error } = await a.ctl("lookup", target);
        return { exit, ...error!, message: error!.message.replace(target, "X") };
      };
      expect(await lookup(String(stranger.nodeId))).toEqual(await lookup("4000000000"));
      expect(await lookup("look-stranger")).toEqual(await lookup("look-nobody"));
      expect(await lookup("4000000000")).toMatchObject({ code: "not_found" });
      // Malformed names are refused as such, before the registry is asked.
      for (const bad of ["", "x".repeat(81), "not a name!"]) expect(await refusal(call(a, "lookup", { target: bad }))).toMatchObject({ code: "invalid_argument" });
    },
    SLOW_TEST_MS,
  );
});

describe("disconnect", () => {
  it(
    "closes one connection: the program on the other side sees its stream end, the one on this side is let go",
    async () => {
      const a = await cluster.daemon("disc-a");
      const b = await cluster.daemon("disc-b");
      await befriend(a, b, "disconnect test");
      const pb = await Pilot.connect(b.home);
      const accepted: PilotConnection[] = [];
      await pb.listen(3000, (conn) => accepted.push(conn));
      const pa = await Pilot.connect(a.home);
      const conn = await pa.dial(String(b.nodeId), 3000);
      conn.write("hello");
      await waitFor(() => accepted.length === 1, "B to accept");
      const far = accepted[0]!;
      const farEnded = new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        far.on("data", (c: Buffer) => chunks.push(c));
        far.on("end", () => resolve(Buffer.concat(chunks).toString()));
        far.on("error", (e) => resolve(`error: ${(e as { code?: string }).code}`));
      });
      const nearFailed = new Promise<unknown>((resolve) => conn.on("error", resolve));

      const listed = (await pa.connections()).find((c) => c.node_id === b.nodeId && c.remote_port === 3000)!;
      expect(await a.run("disconnect", String(listed.id))).toEqual({ conn_id: listed.id });
      // B's program reads what was sent, then the end of the stream: a close, not a reset.
      expect(await within("B's program to see the stream end", farEnded)).toBe("hello");
      expect(await within("A's program to be let go", nearFailed)).toMatchObject({ code: "connection_reset" });
      // Closing, it waits for B's side to end; a second disconnect drops it at once.
      expect((await pa.connections()).find((c) => c.id === listed.id)?.state).toMatch(/^FIN_WAIT_[12]$/);
      expect(await pa.call("disconnect", { conn_id: listed.id })).toEqual({ conn_id: listed.id });
      expect((await pa.connections()).map((c) => c.id)).not.toContain(listed.id);
      await expect(pa.call("disconnect", { conn_id: listed.id })).rejects.toMatchObject({ code: "not_found" });
      await expect(pa.call("disconnect", { conn_id: 999_999 })).rejects.toMatchObject({ code: "not_found" });
      for (const conn_id of [0, -1, 1.5, 2 ** 53, Number.NaN]) await expect(pa.call("disconnect", { conn_id })).rejects.toMatchObject({ code: "invalid_argument" });
      await expect(pa.call("disconnect", { conn_id: "1" } as never)).rejects.toMatchObject({ code: "invalid_argument" });
      await expect(pa.call("disconnect", {} as never)).rejects.toMatchObject({ code: "invalid_argument" });
      pa.close();
      pb.close();
    },
    SLOW_TEST_MS,
  );
});

describe("deregister", () => {
  it(
    "removes the node: its partner cuts it off, it no longer resolves, and its daemon stops with its key set aside",
    async () => {
      const { a, b } = await partners("dereg");
      const box = await inbox(b, 1001);
      await a.run("send-datagram", String(b.nodeId), "1001", "--data", "before");
      await waitFor(() => box.got.includes("before"), "A's datagram before it deregisters");
      const heard = await events(b);
      const seed = a.identitySeed();

      const gone = await call(a, "deregister");
      expect(gone).toEqual({ node_id: a.nodeId, deregistered: true, identity_archived: join(a.home, `identity.deregistered-${a.nodeId}.json`) });
      await waitFor(async () => (await a.ctl("info")).error?.code === "not_running", "A's daemon to stop");
      expect(existsSync(join(a.home, "identity.json"))).toBe(false);

      await waitFor(() => heard.seen.some((e) => e.type === "peer_cut_off" && e.node_id === a.nodeId), "B to cut A off");
      expect(await trusts(b, a)).toBe(false);
      expect(await refusal(call(b, "lookup", { target: String(a.nodeId) }))).toMatchObject({ code: "not_found" });
      expect((await b.run("info"))["peers"].map((p: { node_id: number }) => p.node_id)).not.toContain(a.nodeId);
      // The key set aside is the node's.
      expect(JSON.parse(readFileSync(gone.identity_archived, "utf8")).public_key).toBe(Identity.fromSeed(seed).publicKey);
      heard.close();
      box.close();
    },
    SLOW_TEST_MS,
  );
});
