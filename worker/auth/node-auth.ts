import { eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { database } from "../db/client.ts";
import { nodes } from "../db/schema.ts";
import { unauthorized } from "../errors.ts";
import { verifyAccessToken, type TokenClaims } from "./access-token.ts";

/** RFC 7235: the scheme is case-insensitive. */
const BEARER = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/i;

function readToken(header: string | undefined, env: Env): Promise<TokenClaims> {
  if (!header) throw unauthorized("token_missing", "send Authorization: Bearer <access token>");
  const match = BEARER.exec(header);
  if (!match) throw unauthorized("token_invalid", "the Authorization header must be: Bearer <access token>");
  return verifyAccessToken(env, match[1]!);
}

export const revoked = () => unauthorized("token_revoked", "this node was deregistered; register again to get a new token");

/** Requires a valid access token of a node that is still registered, and puts that node in `c.var.node`. */
export const requireNode = createMiddleware<AppEnv>(async (c, next) => {
  const claims = await readToken(c.req.header("authorization"), c.env);
  const node = await database(c.env).query.nodes.findFirst({ where: eq(nodes.id, claims.nodeId) });
  if (!node || node.deregisteredAt !== null || node.tokenEpoch !== claims.epoch) throw revoked();
  c.set("node", node);
  await next();
});

/**
 * Checks only the token's signature and lifetime, into `c.var.claims`. For the hot path (resolve),
 * whose own query checks that the node is still registered at the token's epoch: one database
 * round trip instead of two. The route must do that check.
 */
export const requireToken = createMiddleware<AppEnv>(async (c, next) => {
  c.set("claims", await readToken(c.req.header("authorization"), c.env));
  await next();
});
