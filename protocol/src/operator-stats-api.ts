/**
 * The operator's stats (GET /v1/admin/stats, docs/operations.md): live counts from the registry's
 * database, and, when the operator let the registry read its metrics, figures from Workers
 * Analytics Engine for a window. Whether the metrics part could be had is a field, never an error.
 */
import { z } from "zod";
import { Timestamp } from "./api.ts";

export const StatsWindow = z.enum(["1h", "24h", "7d"]).meta({ id: "StatsWindow", description: "How far back the metrics reach" });
export type StatsWindow = z.infer<typeof StatsWindow>;

const count = z.number().int().nonnegative();

export const LiveCounts = z
  .object({
    accounts: count,
    nodes_registered: count.meta({ description: "Nodes registered now (not deregistered)" }),
    nodes_deregistered: count,
    nodes_with_endpoint: count.meta({ description: "Registered nodes that have reported an endpoint; not liveness, which each node's object holds" }),
    networks: count,
    memberships: count,
    trust_pairs: count,
    revocations_pending: count.meta({ description: "Revocations still waiting for at least one daemon's receipt" }),
    receipts_pending: count.meta({ description: "Receipts those revocations still wait for" }),
  })
  .meta({ id: "LiveCounts", description: "Counted in D1 when asked" });
export type LiveCounts = z.infer<typeof LiveCounts>;

export const RouteFigures = z.object({
  method: z.string(),
  route: z.string().meta({ description: "The route's pattern, as /v1/networks/:id" }),
  requests: count,
  p99_ms: z.number().nonnegative().nullable(),
});

export const MetricsFigures = z
  .object({
    status: z.literal("ok"),
    window: StatsWindow,
    requests_by_status: z.record(z.string(), count).meta({ description: "Requests by status class (2xx, 4xx, 5xx…)" }),
    top_routes: z.array(RouteFigures).max(10).meta({ description: "The busiest routes, busiest first" }),
    memberships: z
      .object({ added: count, joined: count, invitation_accepted: count, removed: count, left: count, deregistered: count })
      .meta({ description: "Membership changes by how they happened" }),
    revocation_fanout: z
      .object({ revocations: count, p50_ms: z.number().nonnegative().nullable(), p99_ms: z.number().nonnegative().nullable() })
      .meta({ description: "From a revocation's answer to the last push of its news, in its network's object" }),
    relay: z.object({ bytes: count, batches: count }).meta({ description: "Bytes and batches the relay delivered" }),
  })
  .meta({ id: "MetricsFigures" });

export const MetricsUnavailable = z
  .object({
    status: z.enum(["not_configured", "unavailable"]).meta({ description: "not_configured: no ANALYTICS_ACCOUNT_ID and ANALYTICS_API_TOKEN; unavailable: the SQL API did not answer" }),
    message: z.string(),
  })
  .meta({ id: "MetricsUnavailable" });

export const OperatorStats = z
  .object({
    generated_at: Timestamp,
    counts: LiveCounts,
    metrics: z.discriminatedUnion("status", [MetricsFigures, MetricsUnavailable]),
  })
  .meta({ id: "OperatorStats", description: "What the registry holds now, and what it did in the window" });
export type OperatorStats = z.infer<typeof OperatorStats>;
export type MetricsFigures = z.infer<typeof MetricsFigures>;
export type MetricsUnavailable = z.infer<typeof MetricsUnavailable>;
