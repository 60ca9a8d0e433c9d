import { eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { database } from "../db/client.ts";
import { nodes } from "../db/schema.ts";
import { unauthorized } from "../errors.ts";
import { verifyAccessToken } from "./access-token.ts";

/** RFC 7235: the scheme is case-insensitive. */
const BEARER = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/i;

/** Requires a valid access token of a node that is still registered, and puts that node in `c.var.node`. */
export const requireNode = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  if (!header) throw unauthorized("token_missing", "send Authorization: Bearer <access token>");
  const match = BEARER.exec(header);
  if (!match) throw unauthorized("token_invalid", "the Authorization header must be: Bearer <access token>");
  const claims = await verifyAccessToken(c.env, match[1]!);
  const node = await database(c.env).query.nodes.findFirst({ where: eq(nodes.id, claims.nodeId) });
  if (!node || node.deregisteredAt !== null || node.tokenEpoch !== claims.epoch) {
    throw unauthorized("token_revoked", "this node was deregistered; register again to get a new token");
  }
  c.set("node", node);
  await next();
});
