/**
 * Figures from the registry's own metrics (worker/observability/metrics.ts) for the operator's
 * stats, read back through Cloudflare's Analytics Engine SQL API with the account ID the operator
 * set (ANALYTICS_ACCOUNT_ID) and an API token allowed to read account analytics
 * (ANALYTICS_API_TOKEN). Each point counts `_sample_interval` times: Analytics Engine samples a
 * busy dataset, and weighting by it gives totals and quantiles as if it had not.
 */
import { z } from "zod";
import type { MetricsFigures, MetricsUnavailable, StatsWindow } from "@pilot/protocol";
import type { Logger } from "./log.ts";
import type { MembershipChange, MetricKind } from "./metrics.ts";

export type AnalyticsSecrets = { ANALYTICS_API_TOKEN?: string };

/** The SQL API gives up on us no later than this; the stats then say the metrics are unavailable. */
const SQL_API_TIMEOUT_MS = 5_000;

const INTERVALS: Record<StatsWindow, string> = { "1h": "INTERVAL '1' HOUR", "24h": "INTERVAL '1' DAY", "7d": "INTERVAL '7' DAY" };

/** A dataset name as the SQL API takes it, with nothing that could change the query. */
const DATASET_NAME = /^[A-Za-z0-9_]{1,64}$/;

const SqlAnswer = z.object({ data: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.null()]))) });
type Row = Record<string, string | number | null>;

const MEMBERSHIP_CHANGES: readonly MembershipChange[] = ["added", "joined", "invitation_accepted", "removed", "left", "deregistered"];

/** A count as the SQL API sends it: 64-bit integers come as strings. */
const countOf = (v: string | number | null | undefined) => {
  const n = Math.round(Number(v));
  return Number.isFinite(n) && n > 0 ? n : 0;
};

/** A quantile, or null where there was nothing to take one of (the SQL API answers nan). */
const figureOf = (v: string | number | null | undefined) => {
  const n = v === null || v === undefined ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : null;
};

const unavailable = (message: string): MetricsUnavailable => ({ status: "unavailable", message });

export async function metricsFigures(env: Env, window: StatsWindow, log: Logger): Promise<MetricsFigures | MetricsUnavailable> {
  const token = (env as Env & AnalyticsSecrets).ANALYTICS_API_TOKEN;
  const accountId: string = env.ANALYTICS_ACCOUNT_ID;
  if (!accountId || !token) {
    return {
      status: "not_configured",
      message: "set the ANALYTICS_ACCOUNT_ID variable and the ANALYTICS_API_TOKEN secret (an API token with Account Analytics: Read) to see figures from the metrics",
    };
  }
  const dataset: string = env.METRICS_DATASET;
  if (!DATASET_NAME.test(dataset)) return unavailable("METRICS_DATASET is not a dataset name (letters, digits and _)");
  const url = `${env.ANALYTICS_API_ORIGIN}/client/v4/accounts/${encodeURIComponent(accountId)}/analytics_engine/sql`;
  const from = (kind: MetricKind) => `FROM ${dataset} WHERE blob1 = '${kind}' AND timestamp > NOW() - ${INTERVALS[window]}`;
  const query = async (sql: string): Promise<Row[]> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: `${sql} FORMAT JSON`,
      signal: AbortSignal.timeout(SQL_API_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`the Analytics Engine SQL API answered ${res.status}`);
    const parsed = SqlAnswer.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) throw new Error("the Analytics Engine SQL API answered with something other than rows");
    return parsed.data.data;
  };
  try {
    const [byStatus, routes, changes, [fanout], [relay]] = await Promise.all([
      query(`SELECT blob4 AS status_class, SUM(_sample_interval) AS requests ${from("request")} GROUP BY status_class`),
      query(
        `SELECT blob2 AS method, blob3 AS route, SUM(_sample_interval) AS requests, quantileExactWeighted(0.99)(double2, _sample_interval) AS p99_ms ${from("request")} GROUP BY method, route ORDER BY requests DESC LIMIT 10`,
      ),
      query(`SELECT blob2 AS change, SUM(_sample_interval) AS changes ${from("membership")} GROUP BY change`),
      query(
        `SELECT SUM(_sample_interval) AS revocations, quantileExactWeighted(0.5)(double1, _sample_interval) AS p50_ms, quantileExactWeighted(0.99)(double1, _sample_interval) AS p99_ms ${from("revocation_fanout")}`,
      ),
      query(`SELECT SUM(double1 * _sample_interval) AS bytes, SUM(double2 * _sample_interval) AS batches ${from("relay")}`),
    ]);
    const changeCount = (change: MembershipChange) => countOf(changes.find((r) => r["change"] === change)?.["changes"]);
    return {
      status: "ok",
      window,
      requests_by_status: Object.fromEntries(byStatus.map((r) => [String(r["status_class"]), countOf(r["requests"])])),
      top_routes: routes.slice(0, 10).map((r) => ({ method: String(r["method"]), route: String(r["route"]), requests: countOf(r["requests"]), p99_ms: figureOf(r["p99_ms"]) })),
      memberships: Object.fromEntries(MEMBERSHIP_CHANGES.map((c) => [c, changeCount(c)])) as MetricsFigures["memberships"],
      revocation_fanout: { revocations: countOf(fanout?.["revocations"]), p50_ms: figureOf(fanout?.["p50_ms"]), p99_ms: figureOf(fanout?.["p99_ms"]) },
      relay: { bytes: countOf(relay?.["bytes"]), batches: countOf(relay?.["batches"]) },
    };
  } catch (e) {
    // The operator's configuration or Cloudflare's API, not the caller's request: logged, and said in the field.
    log.warn("metrics_unavailable", { window, error_message: e instanceof Error ? e.message : String(e) });
    return unavailable(e instanceof Error && e.message.startsWith("the Analytics") ? e.message : "the Analytics Engine SQL API could not be reached");
  }
}
