/**
 * Authentication of the registry's operator on /v1/admin: `Authorization: Bearer <OPERATOR_TOKEN>`,
 * a Worker secret the operator sets with `wrangler secret put OPERATOR_TOKEN`. It is never an
 * account: whoever runs the deployment holds it, and no sign-up, session or API token can reach
 * the admin routes. Without the secret the admin API answers 503 and says how to set it.
 */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../errors.ts";
import { sameSecret } from "./secrets.ts";

/** Long enough that guessing is hopeless without a rate limit (`openssl rand -hex 32` gives 64). */
export const MIN_OPERATOR_TOKEN_LENGTH = 32;

export type OperatorSecrets = { OPERATOR_TOKEN?: string };

const BEARER = /^Bearer (\S+)$/i;

/** Requires the operator credential; nothing about the request is read before it passes. */
export const requireOperator = createMiddleware<AppEnv>(async (c, next) => {
  const secret = (c.env as Env & OperatorSecrets).OPERATOR_TOKEN;
  if (typeof secret !== "string" || secret.length < MIN_OPERATOR_TOKEN_LENGTH) {
    throw new ApiError(
      503,
      "server_misconfigured",
      `the registry's admin API has no OPERATOR_TOKEN of at least ${MIN_OPERATOR_TOKEN_LENGTH} characters; its operator must run: wrangler secret put OPERATOR_TOKEN`,
    );
  }
  const presented = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
  // Compared through digests whatever was sent, so the answer's time says nothing about the secret.
  if (!(await sameSecret(presented ?? "", secret))) {
    throw new ApiError(401, "unauthenticated", "admin routes take Authorization: Bearer <the OPERATOR_TOKEN secret of this deployment>", {
      "WWW-Authenticate": 'Bearer realm="pilot-admin"',
    });
  }
  await next();
});
