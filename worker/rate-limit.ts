import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./app-env.ts";
import { ApiError } from "./errors.ts";

const limited = (what: string) => new ApiError(429, "rate_limited", `too many ${what}; wait a minute and retry`, { "Retry-After": "60" });

/** Per-node budgets (joins, handshakes): authenticated routes, keyed by the node. */
export async function limitPerNode(limiter: RateLimit, nodeId: number, what: string): Promise<void> {
  const { success } = await limiter.limit({ key: `node:${nodeId}` });
  if (!success) throw limited(`${what} from this node`);
}

/** Per-account budgets (invitations and what else an owner's change tells other nodes). */
export async function limitPerAccount(limiter: RateLimit, accountId: number, what: string): Promise<void> {
  const { success } = await limiter.limit({ key: `account:${accountId}` });
  if (!success) throw limited(`${what} from this account`);
}

type ClientLimiter = "NODE_AUTH_LIMITER" | "ACCOUNT_AUTH_LIMITER";

/**
 * Limits unauthenticated, state-creating routes per client address. Cloudflare sets
 * CF-Connecting-IP at the edge; clients cannot choose it there. Local development has none.
 */
export const limitPerClient = (binding: ClientLimiter) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const key = c.req.header("cf-connecting-ip") ?? "local";
    const { success } = await c.env[binding].limit({ key });
    if (!success) throw limited("requests from this address");
    await next();
  });

/** Challenges, registrations and token requests: machines, many of which may share one address behind a NAT. */
export const limitNodeAuth = limitPerClient("NODE_AUTH_LIMITER");

/** Sign-up and sign-in: people, and password guessing. */
export const limitAccountAuth = limitPerClient("ACCOUNT_AUTH_LIMITER");
