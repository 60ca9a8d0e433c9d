/**
 * A peer that deregisters loses everything it had with this node at once, however it had it (a
 * hand-approved handshake, a shared network), even if it registers again with the same key and
 * keeps using the tunnel it held, or opens a fresh one.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pilot } from "../../src/sdk/pilot.ts";
import { Identity } from "../../src/identity.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import { Operator } from "../local-registry.ts";
import { waitFor } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { impersonate } from "./rogue.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

async function inbox(d: Daemon, port: number) {
  const pilot = await Pilot.connect(d.home);
  const got: string[] = [];
  await pilot.receiveDatagrams(port, (m) => got.push(m.data.toString()));
  return { got, close: () => pilot.close() };
}

describe("a peer that deregisters", () => {
  it.each(["hand-approved trust", "a shared network", "trust its network vouched for"])(
    "is refused at once when it had %s, through its old tunnel and through a fresh one, after registering again",
    async (grant) => {
      const operator = await Operator.signUp(cluster.registry.url);
      const key = await operator.enrollmentKey();
      const a = await cluster.daemon(`dr-a-${grant.length}`, "--enroll", key);
      const b = await cluster.daemon(`dr-b-${grant.length}`, "--enroll", key);
      const c = await cluster.daemon(`dr-c-${grant.length}`, "--enroll", key);
      const net = await operator.createNetwork("invite");
      // C shares a network with A throughout: its datagrams mark when A has handled what came before.
      for (const d of grant === "hand-approved trust" ? [a, c] : [a, b, c]) {
        await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
      }
      if (grant === "hand-approved trust") {
        await a.run("handshake", String(b.nodeId), "let's work");
        await b.run("approve", String(a.nodeId));
      } else if (grant === "trust its network vouched for") {
        // Co-members' handshakes are approved at once, and the trust stays after the network goes.
        expect(await b.run("handshake", String(a.nodeId), "co-members")).toMatchObject({ status: "approved" });
      }
      if (grant !== "a shared network") await waitFor(async () => (await a.call("trust")).trusted.length === 1, "A to trust B");
      const box = await inbox(a, 1001);
      const rogue = await impersonate(cluster.registry.url, b);
      await waitFor(async () => {
        await rogue.sendDatagram(a.nodeId, 1, 1001, Buffer.from("b before")).catch(() => undefined);
        return box.got.includes("b before");
      }, "B's key to reach A");

      // B's daemon stops; its key deregisters and registers again, as a new node with nothing.
      await b.stop();
      const again = new RegistryClient({ url: cluster.registry.url, identity: Identity.fromSeed(b.identitySeed()) });
      await again.register();
      await again.deregister();
      expect((await again.register()).node.node_id).toBe(b.nodeId);

      // The old tunnel, and a fresh exchange with the same key and the daemon's own tunnel code.
      await rogue.sendDatagram(a.nodeId, 1, 1001, Buffer.from("old tunnel")).catch(() => undefined);
      const fresh = await impersonate(cluster.registry.url, b);
      await fresh.sendDatagram(a.nodeId, 1, 1001, Buffer.from("fresh tunnel")).catch(() => undefined);
      await waitFor(async () => {
        await c.ctl("send-datagram", String(a.nodeId), "1001", "--data", "c after");
        return box.got.includes("c after");
      }, "C's datagram after B's");
      expect(box.got).not.toContain("old tunnel");
      expect(box.got).not.toContain("fresh tunnel");
      expect((await a.run("trust"))["trusted"]).toEqual([]);
      expect((await a.run("info"))["peers"].map((p: { node_id: number }) => p.node_id)).not.toContain(b.nodeId);
      rogue.close();
      fresh.close();
      box.close();
    },
    120_000,
  );
});
