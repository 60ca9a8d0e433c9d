/**
 * The metrics' data points (worker/observability/metrics.ts), written to a recording dataset in
 * place of Analytics Engine's binding: requests by the route pattern they matched, never the raw
 * path; a network object's membership changes, channels and revocation fan-out; nothing written,
 * and nothing failing, without the binding; relayed bytes in one point a minute.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { app } from "../worker/app.ts";
import { networkHub } from "../worker/networks/hub.ts";
import { metrics, RelayTally } from "../worker/observability/metrics.ts";
import { addMember, asPerson, createNetwork, enrolledNode, openChannel, ORIGIN, register, signUp } from "./helpers.ts";

type WithMetrics = { env: { METRICS?: AnalyticsEngineDataset } };

function recording() {
  const points: AnalyticsEngineDataPoint[] = [];
  return { points, dataset: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } satisfies AnalyticsEngineDataset };
}

describe("the metrics", () => {
  it("count each request under its method, route pattern and status, with its status and duration", async () => {
    const { points, dataset } = recording();
    const registry = { ...env, METRICS: dataset };
    const n = await register();
    await app.request(`${ORIGIN}/v1/resolve/${n.nodeId}`, { headers: { authorization: `Bearer ${n.token}` } }, registry);
    await app.request(`${ORIGIN}/v1/networks/4242`, {}, registry);
    await app.request(`${ORIGIN}/v1/no/such/route`, {}, registry);
    expect(points.map((p) => ({ indexes: p.indexes, blobs: p.blobs, status: p.doubles?.[0] }))).toEqual([
      { indexes: ["request"], blobs: ["request", "GET", "/v1/resolve/:target", "2xx"], status: 200 },
      { indexes: ["request"], blobs: ["request", "GET", "/v1/networks/:id", "4xx"], status: 401 },
      { indexes: ["request"], blobs: ["request", "GET", "unmatched", "4xx"], status: 404 },
    ]);
    for (const p of points) expect(p.doubles?.[1]).toBeGreaterThanOrEqual(0);
  });

  it("are skipped without the binding, and the registry answers the same", async () => {
    const { METRICS: _, ...without } = env;
    expect(() => metrics(without).write("relay", [], [1, 1])).not.toThrow();
    expect((await app.request(`${ORIGIN}/v1/health`, {}, without)).status).toBe(200);
  });

  it("tally relayed bytes into one point a minute, and flush what is left when asked", () => {
    const { points, dataset } = recording();
    const tally = new RelayTally(metrics({ METRICS: dataset }));
    tally.add(1000, 0);
    tally.add(500, RelayTally.INTERVAL_MS - 1);
    expect(points).toEqual([]);
    tally.add(250, RelayTally.INTERVAL_MS);
    expect(points).toEqual([{ indexes: ["relay"], blobs: ["relay"], doubles: [1750, 3] }]);
    tally.add(10, RelayTally.INTERVAL_MS + 5);
    tally.flush();
    tally.flush();
    expect(points.slice(1)).toEqual([{ indexes: ["relay"], blobs: ["relay"], doubles: [10, 1] }]);
  });

  it("have a network's object count its channels and membership changes, and time a revocation's fan-out from its answer to its last push", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b]) expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
    const { points, dataset } = recording();
    // The object's env is the isolate's: swapped for this test's recording, and put back.
    const hub = networkHub(env, net.network_id);
    const original = await runInDurableObject(hub, (o) => {
      const objectEnv = (o as unknown as WithMetrics).env;
      const kept = objectEnv.METRICS;
      objectEnv.METRICS = dataset;
      return kept;
    });
    try {
      const channel = await openChannel(a, net.network_id);
      await channel.next("hello");
      expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" })).status).toBe(204);
      await channel.next("member_removed");
      await vi.waitFor(() => expect(points.some((p) => p.blobs?.[0] === "revocation_fanout")).toBe(true), { timeout: 10_000 });
      const of = (kind: string) => points.filter((p) => p.blobs?.[0] === kind);
      expect(of("channel")).toEqual([{ indexes: ["channel"], blobs: ["channel", "network", "open"], doubles: [1] }]);
      expect(of("membership")).toEqual([{ indexes: ["membership"], blobs: ["membership", "removed"], doubles: [net.network_id, b.nodeId] }]);
      const [fanout] = of("revocation_fanout");
      expect(fanout!.blobs).toEqual(["revocation_fanout", "removed"]);
      const [ms, recipients] = fanout!.doubles!;
      expect(ms).toBeGreaterThanOrEqual(0);
      // a's channel, and b's inbox (told it was removed).
      expect(recipients).toBe(2);
      channel.ws.close();
      await vi.waitFor(() => expect(of("channel")).toContainEqual({ indexes: ["channel"], blobs: ["channel", "network", "close"], doubles: [0] }));
    } finally {
      await runInDurableObject(hub, (o) => void ((o as unknown as WithMetrics).env.METRICS = original));
    }
  });
});
