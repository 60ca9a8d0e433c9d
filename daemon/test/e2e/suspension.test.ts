/**
 * The registry's operator suspends a node (docs/admin.md): its live stream with a peer that is both
 * a co-member and a trust peer is cut at once on both sides, it can neither resolve nor be
 * resolved, its daemon says it is suspended and why; restoring brings a new connection back with
 * nobody registering or approving anything again.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { Operator } from "../local-registry.ts";
import { SLOW_TEST_MS, waitFor } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { keepWriting } from "./live-stream.ts";

const OPERATOR_TOKEN = randomBytes(32).toString("hex");

const cluster = new Cluster();
beforeAll(() => cluster.start({ secrets: { OPERATOR_TOKEN } }), 60_000);
afterAll(() => cluster.stop(), 60_000);

async function admin(path: string, body?: unknown): Promise<Response> {
  const res = await fetch(new URL(`/v1/admin${path}`, cluster.registry.url), {
    method: "POST",
    headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res;
}

/** Whether the daemon honours the network (its channel is in sync). */
async function synced(d: Daemon, networkId: number): Promise<boolean> {
  const networks = (await d.run("info"))["networks"] as { network_id: number; synced: boolean }[];
  return networks.some((n) => n.network_id === networkId && n.synced);
}

/** Whether the daemon's trust list holds the peer. */
async function trusts(d: Daemon, peer: number): Promise<boolean> {
  return ((await d.run("trust"))["trusted"] as { node_id: number }[]).some((t) => t.node_id === peer);
}

describe("a node the operator suspends", () => {
  it(
    "is cut off at once by a co-member that trusts it, resolves nothing and is resolved by no one, and comes back when restored",
    async () => {
      const operator = await Operator.signUp(cluster.registry.url);
      const key = await operator.enrollmentKey();
      const a = await cluster.daemon("susp-a", "--enroll", key);
      const b = await cluster.daemon("susp-b", "--enroll", key);
      const net = await operator.createNetwork("invite");
      for (const d of [a, b]) await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
      // Co-members' handshakes are approved at once: A and B are trust peers too.
      expect(await a.run("handshake", String(b.nodeId), "co-members")).toMatchObject({ status: "approved" });
      for (const [d, peer] of [
        [a, b],
        [b, a],
      ] as const) {
        await waitFor(async () => (await synced(d, net.network_id)) && (await trusts(d, peer.nodeId)), `${d.name} to honour the network and trust`, 60_000);
      }

      const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
      const accepted: PilotConnection[] = [];
      const server = await pb.listen(2000, (conn) => accepted.push(conn));
      const conn = await pa.dial(b.nodeId, 2000);
      await waitFor(() => accepted.length === 1, "B to accept");
      const { cut, writing } = keepWriting(conn, accepted[0]!, 64 * 1024);
      await waitFor(() => cut.received > 1 << 20, "1 MiB to arrive");

      await admin(`/nodes/${a.nodeId}/suspend`, { reason: "abuse report 12" });
      await waitFor(() => cut.near !== undefined && cut.far !== undefined, "both ends to fail");
      expect(cut.far).toMatchObject({ code: "peer_cut_off" });
      await writing;
      expect(cut.received).toBe(cut.receivedAtCut);

      // B resolves A as a node that does not exist; A resolves nothing and is told why.
      const missing = await b.ctl("lookup", "4000000000");
      const lookedUp = await b.ctl("lookup", String(a.nodeId));
      expect(lookedUp.error).toMatchObject({ code: missing.error!.code, hint: missing.error!.hint });
      expect(lookedUp.error!.message.replace(String(a.nodeId), "N")).toBe(missing.error!.message.replace("4000000000", "N"));
      const refused = await a.ctl("lookup", String(b.nodeId));
      expect(refused.error).toMatchObject({ code: "node_suspended" });
      expect(refused.error!.message).toContain("abuse report 12");
      expect(refused.error!.hint).toContain("operator");
      const info = await a.run("info");
      expect(info["registry_status"]).toBe("suspended");
      expect(info["suspension"]).toContain("abuse report 12");
      expect((await a.run("daemon", "status"))["registry_status"]).toBe("suspended");
      expect(await trusts(b, a.nodeId)).toBe(false);

      // Restored: both daemons take the network and the trust back by themselves.
      await admin(`/nodes/${a.nodeId}/restore`);
      await waitFor(async () => (await a.call("info")).registry_status === "connected", "A to be let back in", 90_000);
      for (const [d, peer] of [
        [a, b],
        [b, a],
      ] as const) {
        await waitFor(async () => (await synced(d, net.network_id)) && (await trusts(d, peer.nodeId)), `${d.name} to honour the network and trust again`, 90_000);
      }
      expect((await a.run("info"))["suspension"]).toBeNull();
      const again = await pa.dial(b.nodeId, 2000);
      await waitFor(() => accepted.length === 2, "B to accept the new connection");
      again.write(Buffer.from("back"));
      const got = await new Promise<string>((resolve) => accepted[1]!.once("data", (d: Buffer) => resolve(d.toString())));
      expect(got).toBe("back");
      // Closing one end resets the other: expected here, not a failure.
      accepted[1]!.on("error", () => undefined);
      again.destroy();
      server.close();
      pa.close();
      pb.close();
    },
    SLOW_TEST_MS * 2,
  );
});
