/**
 * Port policies with running daemons: an owner tags members and sets a policy through the API the
 * console uses, and the destination daemons enforce it at once: allowed ports connect, others get
 * no answer at all, datagrams to them are dropped, live connections the new policy forbids are
 * reset (each member confirming, with a signed receipt, that it enforces each change), and a node
 * in two networks is allowed what one network alone allows, never a mix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RevocationList, Rule } from "@pilot/protocol";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { Operator } from "../local-registry.ts";
import { waitFor } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { keepWriting } from "./live-stream.ts";

const E2E_TIMEOUT = 180_000;

const cluster = new Cluster();
const pilots: Pilot[] = [];
/** Listeners hold sockets of their own: closed with the Pilots, before the daemons stop. */
const servers: { close(): void }[] = [];
beforeAll(() => cluster.start(), 60_000);
afterAll(async () => {
  for (const s of servers) s.close();
  for (const p of pilots) p.close();
  await cluster.stop();
}, 60_000);

async function sdk(d: Daemon): Promise<Pilot> {
  const pilot = await Pilot.connect(d.home);
  pilots.push(pilot);
  return pilot;
}

/** Echo servers on these ports of a daemon; the connections each accepted are kept. */
async function echoOn(d: Daemon, ...ports: number[]) {
  const pilot = await sdk(d);
  const accepted = new Map<number, PilotConnection[]>(ports.map((p) => [p, []]));
  for (const port of ports) {
    const server = await pilot.listen(port, (conn) => {
      accepted.get(port)!.push(conn);
      conn.on("error", () => undefined);
      conn.pipe(conn);
    });
    servers.push(server);
  }
  return accepted;
}

/** A round trip through the peer's echo on a port. */
async function echoes(from: Pilot, to: Daemon, port: number, text: string): Promise<string> {
  const conn = await from.dial(to.nodeId, port);
  conn.end(text);
  const chunks: Buffer[] = [];
  for await (const chunk of conn) chunks.push(chunk as Buffer);
  // Done with it: the daemon may still hold it lingering, and reset it when it stops.
  conn.on("error", () => undefined);
  return Buffer.concat(chunks).toString();
}

/**
 * Dials a port the destination must not answer: the SYN is dropped without a word. The allowed
 * round trip that follows proves the destination handled what came after it; by then it holds no
 * connection on that port, and the dialer is still waiting for an answer.
 */
async function unanswered(from: Daemon, to: Daemon, port: number, allowedPort: number): Promise<void> {
  const pilot = await Pilot.connect(from.home);
  // The daemon keeps retransmitting the SYN: should a later policy let it in, the connection is dropped here.
  const dial = pilot.dial(to.nodeId, port).then(
    (conn) => {
      conn.on("error", () => undefined);
      conn.destroy();
    },
    () => undefined,
  );
  type Listing = { node_id: number; local_port: number; remote_port: number; state: string }[];
  const dialing = async () => ((await from.run("connections"))["connections"] as Listing).find((c) => c.remote_port === port && c.state === "SYN_SENT");
  await waitFor(async () => (await dialing()) !== undefined, "the SYN to go out");
  expect(await echoes(await sdk(from), to, allowedPort, "after")).toBe("after");
  // Still unanswered, and the destination holds nothing of it.
  const syn = (await dialing())!;
  expect(syn).toBeDefined();
  const atDestination = (await to.run("connections"))["connections"] as Listing;
  expect(atDestination.filter((c) => c.node_id === from.nodeId && c.remote_port === syn.local_port)).toEqual([]);
  pilot.close();
  void dial;
}

/** Datagrams a daemon receives, on several ports. */
async function datagramsOn(d: Daemon, ...ports: number[]) {
  const pilot = await sdk(d);
  const got: string[] = [];
  for (const port of ports) await pilot.receiveDatagrams(port, (m) => got.push(`${port}:${m.data.toString()}`));
  return got;
}

/** Sends `text` to `port` until it arrives (datagrams are unreliable). */
const arrives = (from: Daemon, to: Daemon, got: string[], port: number, text: string) =>
  waitFor(async () => {
    await from.ctl("send-datagram", String(to.nodeId), String(port), "--data", text);
    return got.includes(`${port}:${text}`);
  }, `"${text}" on port ${port}`);

async function networkOf(op: Operator, ...members: Daemon[]) {
  const net = await op.createNetwork("invite");
  for (const d of members) await op.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
  for (const d of members) await waitFor(async () => (await d.call("info")).networks.some((n) => n.network_id === net.network_id && n.synced), `${d.name} in sync`);
  return net.network_id;
}

const tag = (op: Operator, networkId: number, d: Daemon, ...tags: string[]) => op.request("PUT", `/v1/networks/${networkId}/members/${d.nodeId}/tags`, { tags });
const setRules = (op: Operator, networkId: number, rules: Rule[]) => op.request("PUT", `/v1/networks/${networkId}/policy`, { self_tagging: false, rules });

describe("port policies", () => {
  it("narrow a network from every port to what its rules grant, at once, closing a live stream the new policy forbids", async () => {
    const op = await Operator.signUp(cluster.registry.url);
    const key = await op.enrollmentKey();
    const [front, api] = [await cluster.daemon("pol-front", "--enroll", key), await cluster.daemon("pol-api", "--enroll", key)];
    const id = await networkOf(op, front, api);
    const accepted = await echoOn(api, 80, 81);
    const got = await datagramsOn(api, 80, 5000, 5001);
    const fromFront = await sdk(front);

    // No policy: every port, both protocols.
    expect(await echoes(fromFront, api, 80, "80 open")).toBe("80 open");
    expect(await echoes(fromFront, api, 81, "81 open")).toBe("81 open");
    await arrives(front, api, got, 5000, "5000 open");
    const live = await fromFront.dial(api.nodeId, 81);
    await waitFor(() => accepted.get(81)!.length === 2, "the live stream to be accepted");
    const { cut } = keepWriting(live, accepted.get(81)![1]!, 16 * 1024);
    await waitFor(() => cut.received > 0, "the live stream to carry data");

    await tag(op, id, front, "frontend");
    await tag(op, id, api, "api");
    await setRules(op, id, [
      { from: "frontend", to: "api", ports: [80], protocols: ["stream"] },
      { from: "frontend", to: "api", ports: [5001], protocols: ["datagram"] },
    ]);
    // The live stream to 81 is reset by its destination; its dialer hears of it.
    await waitFor(() => cut.near !== undefined, "the live stream on 81 to be closed");
    expect(cut.near).toMatchObject({ code: "connection_reset" });
    // Each change (two taggings, then the rules) is confirmed, signed, by both daemons enforcing it.
    const changes = async () => (await op.request<RevocationList>("GET", `/v1/networks/${id}/revocations`)).revocations.filter((r) => r.kind === "policy");
    await waitFor(async () => (await changes()).filter((r) => r.confirmed === 2).length === 3, "both daemons' receipts for each policy change");
    const confirmed = await changes();
    expect(confirmed.map((r) => ({ expected: r.expected, confirmed: r.confirmed, pending: r.pending }))).toEqual(Array(3).fill({ expected: 2, confirmed: 2, pending: [] }));
    expect(confirmed.map((r) => r.node_id)).toEqual(expect.arrayContaining([null, front.nodeId, api.nodeId]));

    expect(await echoes(fromFront, api, 80, "80 still")).toBe("80 still");
    await unanswered(front, api, 81, 80);
    // Datagrams: port 80 is granted for streams only, 5000 not at all; 5001, sent after both, arrives.
    await front.ctl("send-datagram", String(api.nodeId), "80", "--data", "80 denied");
    await front.ctl("send-datagram", String(api.nodeId), "5000", "--data", "5000 denied");
    await arrives(front, api, got, 5001, "5001 allowed");
    expect(got.filter((g) => g.includes("denied"))).toEqual([]);
    // Back to no rules: every port again.
    await setRules(op, id, []);
    await waitFor(async () => (await echoes(fromFront, api, 81, "81 again").catch(() => "")) === "81 again", "port 81 to open again");
  }, E2E_TIMEOUT);

  it("allow a node in two networks what one network alone allows, never tags of one in the other's rules", async () => {
    const [op1, op2] = [await Operator.signUp(cluster.registry.url), await Operator.signUp(cluster.registry.url)];
    const key1 = await op1.enrollmentKey();
    const [client, server] = [await cluster.daemon("two-client", "--enroll", key1), await cluster.daemon("two-server", "--enroll", key1)];
    const net1 = await networkOf(op1, client, server);
    // The second owner's network: both are invited and accept.
    const net2 = (await op2.createNetwork("invite")).network_id;
    for (const d of [client, server]) {
      await op2.request("POST", `/v1/networks/${net2}/members`, { node: String(d.nodeId) });
      await waitFor(async () => (await d.call("invitations")).invitations.length === 1, `${d.name}'s invitation`);
      await d.run("accept-invitation", String(net2));
      await waitFor(async () => (await d.call("info")).networks.every((n) => n.synced) && (await d.call("info")).networks.length === 2, `${d.name} in both`);
    }
    await echoOn(server, 80, 82, 7000);
    const fromClient = await sdk(client);
    // Network 1: the server is "api", the client untagged; its rule is frontend → api on 80.
    // Network 2: the client is "frontend", the server "db"; its rule is frontend → db on 82.
    await tag(op1, net1, server, "api");
    await setRules(op1, net1, [
      { from: "frontend", to: "api", ports: [80], protocols: ["stream"] },
      { from: "*", to: "api", ports: [7000], protocols: ["stream"] },
    ]);
    await tag(op2, net2, client, "frontend");
    await tag(op2, net2, server, "db");
    await setRules(op2, net2, [{ from: "frontend", to: "db", ports: [82], protocols: ["stream"] }]);

    // Network 1 alone grants 7000 to anyone, network 2 alone grants 82: both are open.
    await waitFor(async () => (await echoes(fromClient, server, 82, "82").catch(() => "")) === "82", "network 2's rule to be in force");
    expect(await echoes(fromClient, server, 7000, "7000")).toBe("7000");
    // Port 80 would need the client's "frontend" from network 2 with network 1's rule and tags: refused.
    await unanswered(client, server, 80, 7000);
  }, E2E_TIMEOUT);
});
