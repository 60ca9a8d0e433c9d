/** The operator's stats: live counts from D1 and, when configured, figures from the metrics (docs/operations.md). */
import { OperatorStats, StatsWindow } from "@pilot/protocol";
import { z } from "zod";
import { requireOperator } from "../auth/operator-auth.ts";
import { database } from "../db/client.ts";
import { liveCounts } from "../observability/live-counts.ts";
import { metricsFigures } from "../observability/metrics-figures.ts";
import { apiRoute, json, operatorAuth } from "../openapi.ts";
import { createRouter } from "../router.ts";
import { iso } from "../time.ts";

export const adminStatsRoutes = createRouter().openapi(
  apiRoute({
    method: "get",
    path: "/admin/stats",
    operationId: "getOperatorStats",
    tags: ["admin"],
    summary: "What the registry holds now, and what it did in a window",
    description:
      "Counts from the database, read when asked (each reads whole tables: look now and then, do not poll). With the ANALYTICS_ACCOUNT_ID variable and the ANALYTICS_API_TOKEN secret set, `metrics` holds figures from the registry's Analytics Engine dataset for the window (default 24h); without them, or when the SQL API does not answer, `metrics.status` says so and `counts` are still given.",
    security: operatorAuth,
    middleware: [requireOperator] as const,
    request: { query: z.object({ window: StatsWindow.default("24h") }) },
    responses: { 200: json(OperatorStats, "Counts and, if configured, metrics") },
  }),
  async (c) => {
    const { window } = c.req.valid("query");
    const [counts, metrics] = await Promise.all([liveCounts(database(c.env)), metricsFigures(c.env, window, c.var.log)]);
    return c.json({ generated_at: iso(Date.now()), counts, metrics }, 200);
  },
);
