import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import type { AccountRow, NodeRow } from "../db/schema.ts";
import { authenticateAccount } from "./account-auth.ts";
import { authenticateNode } from "./node-auth.ts";

/** Who called a route that both people and nodes may call. */
export type Caller = { node: NodeRow } | { account: AccountRow };

/**
 * For routes both people and nodes may call: a bearer token that is not an API token is a node's
 * access token; anything else is account authentication. The handler decides what each may see.
 */
export const requireAccountOrNode = createMiddleware<AppEnv & { Variables: { caller: Caller } }>(async (c, next) => {
  const header = c.req.header("authorization");
  const caller =
    header !== undefined && !/^Bearer pat_/i.test(header)
      ? { node: await authenticateNode(c.env, header) }
      : { account: (await authenticateAccount(c)).account };
  c.set("caller", caller);
  await next();
});
