/**
 * A stand-in for Cloudflare's Analytics Engine SQL API, for the Worker's tests (vitest.config.ts
 * routes the registry's outbound requests to it). It takes what the real API takes (POST
 * /client/v4/accounts/<account ID>/analytics_engine/sql, the API token as a bearer token, the SQL
 * as the body), refuses the rest as the API would, and answers the operator stats' queries with
 * rows shaped as the API sends them (64-bit counts as strings). The figures scale with the window
 * the query names, so a test sees that the window it asked for reached the query.
 */
export interface AnalyticsApiOptions {
  accountId: string;
  apiToken: string;
  dataset: string;
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** The rows a query gets, by the column it asks for, for a window of `hours`. */
const ANSWERS: [column: string, rows: (hours: number) => Record<string, string | number>[]][] = [
  ["AS status_class", (h) => [{ status_class: "2xx", requests: String(100 * h) }, { status_class: "4xx", requests: String(3 * h) }]],
  ["AS route", (h) => [{ method: "POST", route: "/v1/auth/token", requests: String(70 * h), p99_ms: 12.5 }, { method: "GET", route: "/v1/resolve/:target", requests: String(20 * h), p99_ms: 8 }]],
  ["AS change", (h) => [{ change: "joined", changes: String(4 * h) }, { change: "removed", changes: String(h) }]],
  ["AS p50_ms", (h) => [{ revocations: String(h), p50_ms: 3, p99_ms: 40 }]],
  ["AS bytes", (h) => [{ bytes: 1_000_000 * h, batches: 100 * h }]],
];

export function analyticsSqlApi(options: AnalyticsApiOptions): (request: Request) => Promise<Response> {
  const path = `/client/v4/accounts/${options.accountId}/analytics_engine/sql`;
  return async (request) => {
    if (new URL(request.url).pathname !== path) return json(404, { errors: [{ message: "no such route or account" }] });
    if (request.method !== "POST") return json(405, { errors: [{ message: "method not allowed" }] });
    if (request.headers.get("authorization") !== `Bearer ${options.apiToken}`) return json(401, { errors: [{ message: "authentication error" }] });
    const sql = await request.text();
    const window = /timestamp > NOW\(\) - INTERVAL '(\d+)' (HOUR|DAY)\b/.exec(sql);
    const answer = ANSWERS.find(([column]) => sql.includes(column));
    if (!sql.includes(`FROM ${options.dataset} WHERE`) || !sql.endsWith(" FORMAT JSON") || !window || !answer) return json(422, { errors: [{ message: "a query this stand-in does not know" }] });
    const hours = Number(window[1]) * (window[2] === "DAY" ? 24 : 1);
    const data = answer[1](hours);
    return json(200, { meta: [], data, rows: data.length });
  };
}
