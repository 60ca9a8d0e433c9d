import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { requireAccount } from "./account-auth.ts";
import { requireNode } from "./node-auth.ts";

/**
 * For routes both people and nodes may call: a bearer token that is not an API token is a node's
 * access token; anything else is account authentication. The handler decides what each may see.
 */
export const requireAccountOrNode = createMiddleware<AppEnv>((c, next) => {
  const header = c.req.header("authorization");
  return header !== undefined && !/^Bearer pat_/i.test(header) ? requireNode(c, next) : requireAccount(c, next);
});
