/**
 * What every request carries through the registry: its ID, the logger that stamps it on each line,
 * and, once answered, its point in the metrics (by the route pattern it matched, never the raw path,
 * which would hold node and network IDs). The ID is Cloudflare's Ray ID when the edge gave one, so a
 * line in `wrangler tail` and the dashboard's request traces agree; the answer returns it as
 * `x-request-id`, and a 500 quotes it, so a user can hand it to the operator.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../app-env.ts";
import { logger } from "./log.ts";
import { metrics, statusClass } from "./metrics.ts";

export const REQUEST_ID_HEADER = "x-request-id";

/** What a Ray ID looks like (hex, then the data centre); anything else a client sent is not trusted as an ID. */
const RAY_ID = /^[0-9a-f]{16}(-[A-Z]{3,4})?$/;

export const requestIdFrom = (cfRay: string | undefined) => (cfRay && RAY_ID.test(cfRay) ? cfRay : crypto.randomUUID());

/** The pattern of the route that answered (`/v1/networks/:id`), or "unmatched". Middleware is registered for every method; routes for one. */
export const routePattern = (c: Context) => matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ?? "unmatched";

export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const requestId = requestIdFrom(c.req.header("cf-ray"));
  c.set("requestId", requestId);
  c.set("log", logger(requestId));
  const started = Date.now();
  await next();
  try {
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  } catch {
    // A WebSocket upgrade's answer comes from an object with immutable headers; the ID is for errors people quote.
  }
  const status = c.res.status;
  metrics(c.env).write("request", [c.req.method, routePattern(c), statusClass(status)], [status, Date.now() - started]);
});
