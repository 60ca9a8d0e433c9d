/**
 * Revocation receipts with running daemons: after an owner removes a member, every daemon the
 * removal concerned confirms its cut-off to the registry, signed; a daemon that was stopped at the
 * time confirms when it starts again, before it honours the network's members; an untrust is
 * confirmed by both ends, and the node that made it sees so through pilotctl.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RevocationList, RevocationSummary } from "@pilot/protocol";
import { Operator } from "../local-registry.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { SLOW_TEST_MS, waitFor } from "../wait.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

const revocations = async (op: Operator, networkId: number) =>
  (await op.request<RevocationList>("GET", `/v1/networks/${networkId}/revocations`)).revocations;

/** Whether the daemon honours the network's members now (its channel is in sync). */
const honours = async (d: Daemon, networkId: number) =>
  ((await d.run("info"))["networks"] as { network_id: number; synced: boolean }[]).some((n) => n.network_id === networkId && n.synced);

/** Three running daemons of one owner, all members of a new network whose channels are in sync. */
async function network(prefix: string) {
  const operator = await Operator.signUp(cluster.registry.url);
  const key = await operator.enrollmentKey();
  const daemons = [await cluster.daemon(`${prefix}-a`, "--enroll", key), await cluster.daemon(`${prefix}-b`, "--enroll", key), await cluster.daemon(`${prefix}-c`, "--enroll", key)];
  const net = await operator.createNetwork("invite");
  for (const d of daemons) await operator.request("POST", `/v1/networks/${net.network_id}/members`, { node: String(d.nodeId) });
  for (const d of daemons) await waitFor(() => honours(d, net.network_id), `${d.name} in sync with the network`);
  return { operator, networkId: net.network_id, daemons };
}

describe("revocation receipts from real daemons", () => {
  it("a removal from a three-member network is confirmed by all three", async () => {
    const { operator, networkId, daemons } = await network("rm");
    const [a, b, c] = daemons as [Daemon, Daemon, Daemon];
    // A live tunnel from A to C, so A has something to cut.
    await waitFor(async () => (await a.ctl("ping", String(c.nodeId), "--count", "1")).ok, "a tunnel from A to C");
    await operator.request("DELETE", `/v1/networks/${networkId}/members/${c.nodeId}`);
    let summary: RevocationSummary | undefined;
    await waitFor(async () => {
      [summary] = await revocations(operator, networkId);
      return summary?.confirmed === 3;
    }, "three receipts");
    expect(summary).toMatchObject({ kind: "removed", node_id: c.nodeId, expected: 3, confirmed: 3, pending: [] });
    expect(summary!.slowest_ms).toEqual(expect.any(Number));
    // By then A had cut C off: no tunnel is left.
    expect(((await a.run("info"))["peers"] as { node_id: number }[]).map((p) => p.node_id)).not.toContain(c.nodeId);
    expect(b.nodeId).not.toBe(c.nodeId);
  }, SLOW_TEST_MS);

  it("a member stopped at the removal is pending, and confirms when it starts again before it honours the network", async () => {
    const { operator, networkId, daemons } = await network("off");
    const [a, b, c] = daemons as [Daemon, Daemon, Daemon];
    await c.stop();
    await operator.request("DELETE", `/v1/networks/${networkId}/members/${b.nodeId}`);
    await waitFor(async () => (await revocations(operator, networkId))[0]?.confirmed === 2, "the two running daemons' receipts");
    expect((await revocations(operator, networkId))[0]).toMatchObject({ expected: 3, confirmed: 2, pending: [c.nodeId] });

    await c.start();
    await waitFor(() => honours(c, networkId), "C back in sync with the network");
    // The receipt went before the network's members were let in again.
    expect((await revocations(operator, networkId))[0]).toMatchObject({ confirmed: 3, pending: [] });
    await waitFor(async () => (await c.ctl("ping", String(a.nodeId), "--count", "1")).ok, "C reaching A again");
  }, SLOW_TEST_MS);

  it("an untrust is confirmed by both ends; the node that made it reads how it went, and nobody else can", async () => {
    const [a, b] = [await cluster.daemon("ut-a"), await cluster.daemon("ut-b")];
    // Any daemon of the earlier cases: a node neither end of the untrust.
    const stranger = cluster.daemons[0]!;
    await a.run("handshake", String(b.nodeId), "for the receipts");
    await b.run("approve", String(a.nodeId));
    await waitFor(async () => (await a.call("trust")).trusted.length === 1, "A to hear B approved");
    const context = await a.run("context");
    const untrust = await a.run("untrust", String(b.nodeId));
    expect(Object.keys(untrust).sort()).toEqual(["node_id", "revocation_id"]);
    const id = String(untrust["revocation_id"]);
    let seen: Record<string, unknown> = {};
    await waitFor(async () => {
      seen = await a.run("revocation", id);
      return seen["confirmed"] === 2;
    }, "both receipts");
    expect(seen).toMatchObject({ kind: "untrust", node_id: a.nodeId, expected: 2, pending: [] });
    expect(Object.keys(seen).sort()).toEqual(String(context["commands"]["revocation"].returns).split(", ").sort());
    const asStranger = await stranger.ctl("revocation", id);
    const missing = await stranger.ctl("revocation", "rv_AAAAAAAAAAAAAAAAAAAAAA");
    expect(asStranger.error).toMatchObject({ code: "revocation_not_found" });
    expect(asStranger.error).toEqual(missing.error);
    expect((await a.ctl("revocation", "not-an-id")).error).toMatchObject({ code: "invalid_argument" });
  }, SLOW_TEST_MS);
});
