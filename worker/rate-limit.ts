import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app-env.ts";
import { ApiError } from "./errors.ts";

/**
 * Limits unauthenticated, state-creating routes per client address. Cloudflare sets
 * CF-Connecting-IP at the edge; clients cannot choose it there. Local development has none.
 */
export const limitPerClient = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("cf-connecting-ip") ?? "local";
  const { success } = await c.env.AUTH_LIMITER.limit({ key });
  if (!success) {
    throw new ApiError(429, "rate_limited", "too many requests from this address; wait a minute and retry", {
      "Retry-After": "60",
    });
  }
  await next();
});
