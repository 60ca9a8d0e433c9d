/**
 * The operator's stats (GET /v1/admin/stats): the operator's credential and nothing else, live
 * counts from D1, and figures from the metrics through a stand-in of the Analytics Engine SQL API
 * (vitest.config.ts) when the registry is configured to read them; a field says when it is not.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { OperatorStats } from "@pilot/protocol";
import { app } from "../worker/app.ts";
import { addMember, asPerson, createNetwork, enrolledNode, errorOf, ORIGIN, register, signUp } from "./helpers.ts";

const api = env.TEST_ANALYTICS_API;
/** The registry as an operator who set up reading the metrics configured it (or misconfigured it). */
const withMetrics = (changes: { ANALYTICS_ACCOUNT_ID?: string; ANALYTICS_API_TOKEN?: string; METRICS_DATASET?: string } = {}) => ({
  ...env,
  ANALYTICS_ACCOUNT_ID: api.accountId,
  ANALYTICS_API_TOKEN: api.apiToken,
  ...changes,
});

const statsFor = (query = "", headers: Record<string, string> = { authorization: `Bearer ${env.OPERATOR_TOKEN}` }, registry: object = env) =>
  app.request(`${ORIGIN}/v1/admin/stats${query}`, { headers }, registry);

async function stats(query = "", registry: object = env): Promise<OperatorStats> {
  const res = await statsFor(query, undefined, registry);
  expect(res.status).toBe(200);
  return (await res.json()) as OperatorStats;
}

describe("the operator's stats refuse", () => {
  it("a request without the operator's token, or with another credential, with 401 unauthenticated", async () => {
    const owner = await signUp();
    const node = await register();
    const tokenRes = await asPerson(owner, "/v1/account/tokens", { body: { name: "ci" } });
    const { token: apiToken } = (await tokenRes.json()) as { token: string };
    for (const headers of <Record<string, string>[]>[
      {},
      { authorization: `Bearer ${env.OPERATOR_TOKEN}x` },
      { authorization: `Basic ${btoa(`operator:${env.OPERATOR_TOKEN}`)}` },
      { authorization: `Bearer ${apiToken}` },
      { authorization: `Bearer ${node.token}` },
      { cookie: owner.cookie, "x-csrf-token": owner.csrf, origin: ORIGIN },
    ]) {
      expect(await errorOf(await statsFor("", headers))).toMatchObject({ status: 401, code: "unauthenticated" });
    }
  });

  it("every request with 503 server_misconfigured when the deployment has no OPERATOR_TOKEN, or one too short", async () => {
    const { OPERATOR_TOKEN: _, ...unset } = env;
    for (const registry of [unset, { ...env, OPERATOR_TOKEN: "short" }]) {
      const error = await errorOf(await statsFor("", undefined, registry));
      expect(error).toMatchObject({ status: 503, code: "server_misconfigured" });
      expect(error.message).toContain("wrangler secret put OPERATOR_TOKEN");
    }
  });

  it("a window it does not know with 400 invalid_request", async () => {
    for (const query of ["?window=2h", "?window=", "?window=1h&window=7d"]) {
      expect(await errorOf(await statsFor(query))).toMatchObject({ status: 400, code: "invalid_request" });
    }
  });
});

describe("the operator's stats", () => {
  it("count what D1 holds now, and say the metrics are not configured when they are not", async () => {
    const before = await stats();
    expect(before.metrics).toMatchObject({ status: "not_configured" });
    expect((before.metrics as { message: string }).message).toMatch(/ANALYTICS_ACCOUNT_ID.*ANALYTICS_API_TOKEN/);
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b]) expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
    // Removing b records a revocation that a (and b itself) must confirm.
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" })).status).toBe(204);
    const after = await stats();
    // Other test files share the database: each count grew by at least what this test did.
    expect(after.counts.accounts).toBeGreaterThanOrEqual(before.counts.accounts + 1);
    expect(after.counts.nodes_registered).toBeGreaterThanOrEqual(before.counts.nodes_registered + 2);
    expect(after.counts.networks).toBeGreaterThanOrEqual(before.counts.networks + 1);
    expect(after.counts.memberships).toBeGreaterThanOrEqual(before.counts.memberships + 1);
    expect(after.counts.revocations_pending).toBeGreaterThanOrEqual(before.counts.revocations_pending + 1);
    expect(after.counts.receipts_pending).toBeGreaterThanOrEqual(before.counts.receipts_pending + 2);
    expect(Date.parse(after.generated_at)).toBeGreaterThan(0);
  });

  it.each([
    ["1h", 1],
    ["24h", 24],
    ["7d", 168],
  ])("give the metrics' figures for the window asked (%s) when configured", async (window, hours) => {
    const { metrics } = await stats(`?window=${window}`, withMetrics());
    expect(metrics).toEqual({
      status: "ok",
      window,
      requests_by_status: { "2xx": 100 * hours, "4xx": 3 * hours },
      top_routes: [
        { method: "POST", route: "/v1/auth/token", requests: 70 * hours, p99_ms: 12.5 },
        { method: "GET", route: "/v1/resolve/:target", requests: 20 * hours, p99_ms: 8 },
      ],
      memberships: { added: 0, joined: 4 * hours, invitation_accepted: 0, removed: hours, left: 0, deregistered: 0 },
      revocation_fanout: { revocations: hours, p50_ms: 3, p99_ms: 40 },
      relay: { bytes: 1_000_000 * hours, batches: 100 * hours },
    });
  });

  it("default to the last 24 hours", async () => {
    expect((await stats("", withMetrics())).metrics).toMatchObject({ status: "ok", window: "24h" });
  });

  it.each([
    ["a wrong API token", { ANALYTICS_API_TOKEN: "not-the-token" }, /answered 401/],
    ["an account the API does not know", { ANALYTICS_ACCOUNT_ID: "another-account" }, /answered 404/],
    ["a dataset name that would change the query", { METRICS_DATASET: "pilot_registry; DROP TABLE x" }, /METRICS_DATASET/],
  ])("say the metrics are unavailable, and still count, with %s", async (_, changes, message) => {
    const answer = await stats("?window=1h", withMetrics(changes));
    expect(answer.metrics).toMatchObject({ status: "unavailable", message: expect.stringMatching(message) });
    expect(answer.counts.accounts).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(answer)).not.toContain(api.apiToken);
  });

  it("say the metrics are not configured with only one of the account ID and the token", async () => {
    for (const changes of [{ ANALYTICS_ACCOUNT_ID: "" }, { ANALYTICS_API_TOKEN: "" }]) {
      expect((await stats("", withMetrics(changes))).metrics).toMatchObject({ status: "not_configured" });
    }
  });

  it("are described in the OpenAPI document as getOperatorStats, for the operator's credential only", async () => {
    const doc = (await (await app.request(`${ORIGIN}/v1/openapi.json`, {}, env)).json()) as {
      paths: Record<string, Record<string, { operationId?: string; security?: unknown; parameters?: { name: string }[]; responses: Record<string, unknown> }>>;
    };
    const op = doc.paths["/v1/admin/stats"]?.["get"];
    expect(op).toMatchObject({ operationId: "getOperatorStats", security: [{ operator: [] }] });
    expect(op!.parameters?.map((p) => p.name)).toEqual(["window"]);
    expect(Object.keys(op!.responses).sort()).toEqual(["200", "400", "401", "503"]);
  });
});
