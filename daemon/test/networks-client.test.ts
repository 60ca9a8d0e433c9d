/** The daemon's network calls and push channel, against a real local registry over real sockets. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../src/identity.ts";
import type { ChannelEnd } from "../src/live-channel.ts";
import { RegistryClient, RegistryError } from "../src/registry-client.ts";
import type { PushEvent } from "@pilot/protocol";
import { Operator, startLocalRegistry, type LocalRegistry } from "./local-registry.ts";

let registry: LocalRegistry;
let operator: Operator;
beforeAll(async () => {
  registry = await startLocalRegistry();
  operator = await Operator.signUp(registry.url);
  // The operator's way to grant a plan (docs/accounts-and-networks.md), here straight on local D1.
  const env = (await registry.harness.getWorker().getEnv()) as { DB: { prepare(sql: string): { run(): Promise<unknown> } } };
  await env.DB.prepare("UPDATE accounts SET plan = 'pro'").run();
});
afterAll(() => registry?.close());

async function node(): Promise<RegistryClient> {
  const client = new RegistryClient({ url: registry.url, identity: Identity.generate() });
  await client.register();
  return client;
}

/** Collects a channel's events and lets a test wait for one. */
function listen(client: RegistryClient, networkId: number) {
  const events: PushEvent[] = [];
  const resyncs: number[] = [];
  let ended: ChannelEnd | undefined;
  const channel = client.channel(networkId, {
    onEvent: (e) => {
      events.push(e);
    },
    onResync: (revision) => {
      resyncs.push(revision);
    },
    pingIntervalMs: 1_000,
    onEnd: (why) => {
      ended = why;
    },
    initialBackoffMs: 50,
  });
  const waitFor = async <T>(probe: () => T | undefined, what: string): Promise<T> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = probe();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    channel,
    events,
    resyncs,
    ended: () => ended,
    event: <K extends PushEvent["type"]>(type: K, match: (e: Extract<PushEvent, { type: K }>) => boolean = () => true) =>
      waitFor(() => events.find((e): e is Extract<PushEvent, { type: K }> => e.type === type && match(e as Extract<PushEvent, { type: K }>)), type),
    waitEnded: () => waitFor(() => ended, "the channel to end"),
    waitResyncs: (n: number) => waitFor(() => (resyncs.length >= n ? resyncs : undefined), `${n} resyncs`),
  };
}

describe("network calls", () => {
  it("join by ID and token or by join URL, list, page through members, and leave", async () => {
    const net = await operator.createNetwork();
    const [a, b] = [await node(), await node()];
    const joined = await a.joinNetwork(net.network_id, net.join!.token);
    expect(joined.network_id).toBe(net.network_id);
    expect((await b.joinNetwork(net.join!.url)).network_id).toBe(net.network_id);
    expect((await a.networks()).map((n) => n.network_id)).toEqual([net.network_id]);
    const everyone = await b.allMembers(net.network_id);
    expect(everyone).toHaveLength(2);
    expect((await a.members(net.network_id, { limit: 1 })).next_cursor).not.toBeNull();
    await a.leaveNetwork(net.network_id);
    expect(await a.networks()).toEqual([]);
  });

  it("refuse a join URL of another registry, and report a wrong token", async () => {
    const net = await operator.createNetwork();
    const a = await node();
    const foreign = net.join!.url.replace(new URL(registry.url).origin, "https://elsewhere.example");
    await expect(a.joinNetwork(foreign)).rejects.toMatchObject({ code: "invalid_request" });
    const err = await a.joinNetwork(net.network_id, "wrong-token").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ status: 403, code: "join_denied" });
  });

  it("list, accept and decline invitations", async () => {
    const net = await operator.createNetwork("invite");
    const [a, b] = [await node(), await node()];
    for (const n of [a, b]) {
      const self = await n.self();
      await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(self.node_id) });
    }
    expect((await a.invitations()).map((i) => i.network_id)).toEqual([net.network_id]);
    expect((await a.acceptInvitation(net.network_id)).network_id).toBe(net.network_id);
    await b.declineInvitation(net.network_id);
    expect(await b.invitations()).toEqual([]);
    expect((await a.allMembers(net.network_id)).length).toBe(1);
  });
});

describe("the push channel client", () => {
  it("hears members join and leave, and ends when its own node is removed", async () => {
    const net = await operator.createNetwork();
    const [a, b] = [await node(), await node()];
    await a.joinNetwork(net.network_id, net.join!.token);
    await b.joinNetwork(net.network_id, net.join!.token);
    const watcher = listen(a, net.network_id);
    const victim = listen(b, net.network_id);
    await watcher.waitResyncs(1);
    await victim.waitResyncs(1);
    const bId = (await b.self()).node_id;

    const sent = performance.now();
    await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${bId}`);
    const answered = performance.now();
    await watcher.event("member_removed", (e) => e.node_id === bId);
    const heard = performance.now();
    expect(await victim.waitEnded()).toBe("removed");
    const ended = performance.now();
    console.log(
      `push channel over loopback: remove answered in ${(answered - sent).toFixed(1)} ms; ` +
        `member heard it ${(heard - sent).toFixed(1)} ms, removed node's channel ended ${(ended - sent).toFixed(1)} ms after the request`,
    );
    watcher.channel.close();
  });

  it("reconnects after the registry drops the socket, and asks for a resync each time", async () => {
    const net = await operator.createNetwork();
    const a = await node();
    await a.joinNetwork(net.network_id, net.join!.token);
    const ch = listen(a, net.network_id);
    await ch.waitResyncs(1);
    await registry.harness.getWorker().evictDurableObject("NETWORK_HUB", { name: String(net.network_id), webSockets: "close" });
    await ch.waitResyncs(2);
    expect(ch.channel.connected).toBe(true);
    // Still live after reconnecting.
    const b = await node();
    await b.joinNetwork(net.network_id, net.join!.token);
    const bId = (await b.self()).node_id;
    await ch.event("member_added", (e) => e.member.node_id === bId);
    ch.channel.close();
    expect(ch.ended()).toBe("closed");
  });

  it("holds events back until the resync it asked for is done", async () => {
    const net = await operator.createNetwork();
    const a = await node();
    await a.joinNetwork(net.network_id, net.join!.token);
    const order: string[] = [];
    const b = await node();
    const channel = a.channel(net.network_id, {
      onEvent: (e) => {
        order.push(e.type);
      },
      onResync: async () => {
        order.push("resync started");
        // A member joins while the snapshot is being read; its event must not overtake the snapshot.
        await b.joinNetwork(net.network_id, net.join!.token);
        await new Promise((r) => setTimeout(r, 100));
        order.push("resync done");
      },
    });
    const deadline = Date.now() + 10_000;
    while (!order.includes("member_added") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(["hello", "resync started", "resync done", "member_added"]);
    expect(channel.connected).toBe(true);
    channel.close();
  });

  it("ends when its node deregisters", async () => {
    const net = await operator.createNetwork();
    const a = await node();
    await a.joinNetwork(net.network_id, net.join!.token);
    const ch = listen(a, net.network_id);
    await ch.waitResyncs(1);
    await a.deregister();
    expect(["removed", "deregistered"]).toContain(await ch.waitEnded());
  });

  it("ends when the network is deleted, and gives up on a network it is not in", async () => {
    const net = await operator.createNetwork();
    const a = await node();
    await a.joinNetwork(net.network_id, net.join!.token);
    const ch = listen(a, net.network_id);
    await ch.waitResyncs(1);
    await operator.request("DELETE", `/v1/networks/${net.network_id}`);
    expect(await ch.waitEnded()).toBe("deleted");

    const outsider = listen(await node(), 60_000);
    expect(await outsider.waitEnded()).toBe("removed");
    expect(outsider.resyncs).toEqual([]);
  });
});
