import { createMiddleware } from "hono/factory";
import type { AppEnv, RequestVariables } from "../app-env.ts";
import { database } from "../db/client.ts";
import type { NodeRow } from "../db/schema.ts";
import { unauthorized } from "../errors.ts";
import { nodeById } from "../nodes/queries.ts";
import { refuseSuspendedNode } from "../nodes/suspension.ts";
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

/** The node whose valid access token is in the header, if it is still registered at the token's epoch. */
export async function authenticateNode(env: Env, header: string | undefined): Promise<NodeRow> {
  const claims = await readToken(header, env);
  const node = await nodeById(database(env), claims.nodeId);
  // The suspension bumped the epoch too; the node hears why its token stopped working.
  if (node && node.deregisteredAt === null) refuseSuspendedNode(node);
  if (!node || node.deregisteredAt !== null || node.tokenEpoch !== claims.epoch) throw revoked();
  return node;
}

export interface NodeEnv extends AppEnv {
  Variables: RequestVariables & { node: NodeRow };
}

/** Requires a valid access token of a node that is still registered, and puts that node in `c.var.node`. */
export const requireNode = createMiddleware<NodeEnv>(async (c, next) => {
  c.set("node", await authenticateNode(c.env, c.req.header("authorization")));
  await next();
});

/**
 * Checks only the token's signature and lifetime, into `c.var.claims`. For the hot path (resolve),
 * whose own query checks that the node is still registered at the token's epoch: one database
 * round trip instead of two. The route must do that check.
 */
export const requireToken = createMiddleware<AppEnv & { Variables: { claims: TokenClaims } }>(async (c, next) => {
  c.set("claims", await readToken(c.req.header("authorization"), c.env));
  await next();
});
