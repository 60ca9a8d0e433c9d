import { NodeRefText, ResolvedNode } from "@pilot/protocol";
import { z } from "zod";
import { requireToken, revoked } from "../auth/node-auth.ts";
import type { TokenClaims } from "../auth/access-token.ts";
import { database } from "../db/client.ts";
import type { NodeRow } from "../db/schema.ts";
import { nodeNotFound, parseTarget } from "../errors.ts";
import { afterAnswer } from "../even-timing.ts";
import { nodeHub } from "../nodes/hub.ts";
import { askForPath } from "../nodes/paths.ts";
import { resolvedView } from "../nodes/views.ts";
import { bearer, errors, json, apiRoute } from "../openapi.ts";
import { limitPerNode } from "../rate-limit.ts";
import { nodeById } from "../nodes/queries.ts";
import { refuseSuspendedNode } from "../nodes/suspension.ts";
import { findVisibleNode, isRegistered } from "../privacy.ts";
import { createRouter } from "../router.ts";

const params = z.object({ target: NodeRefText });

/** The target as the caller may see it: the privacy gate, and a denial exactly like a node that does not exist. */
async function visibleTarget(env: Env, claims: TokenClaims, target: string): Promise<NodeRow> {
  const db = database(env);
  const row = await findVisibleNode(db, claims, parseTarget(target));
  if (row) return row;
  if (await isRegistered(db, claims)) throw nodeNotFound();
  // The caller itself is refused: tell a suspended node why (only it holds its token).
  const me = await nodeById(db, claims.nodeId);
  if (me && me.deregisteredAt === null) refuseSuspendedNode(me);
  throw revoked();
}

const resolved = async (env: Env, row: NodeRow) => resolvedView(row, await nodeHub(env, row.id).lastSeen(row.tokenEpoch));

export const resolveRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "get",
      path: "/resolve/{target}",
      operationId: "resolveNode",
      tags: ["resolve"],
      summary: "Find a node's key and endpoints by node ID, address or hostname",
      description:
        "Answers only if the target is public, shares a network other than the backbone with the caller, or holds mutual trust with it. Otherwise the answer is exactly the one for a node that does not exist.",
      security: bearer,
      middleware: [requireToken] as const,
      request: { params },
      responses: { 200: json(ResolvedNode, "The node"), ...errors(404, 422) },
    }),
    async (c) => c.json(await resolved(c.env, await visibleTarget(c.env, c.var.claims, c.req.valid("param").target)), 200),
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/paths/{target}",
      operationId: "requestPath",
      tags: ["resolve"],
      summary: "Ask for a direct path to a node: resolve it, and have it probe back at once",
      description:
        "Answers exactly as resolve does, under the same rule. When the answer is the node, the node is also told over its channel (a path_wanted event with the caller's reported endpoint and LAN addresses), so both sides probe each other's candidates at once and both NATs open. A node the caller may not see is told nothing. Signals are bounded per requester and per target, and never queued for an offline node. A node may ask 600 times a minute.",
      security: bearer,
      middleware: [requireToken] as const,
      request: { params },
      responses: { 200: json(ResolvedNode, "The node, which is being told to probe back"), ...errors(404, 422, 429) },
    }),
    async (c) => {
      await limitPerNode(c.env.PATH_LIMITER, c.var.claims.nodeId, "path requests");
      const row = await visibleTarget(c.env, c.var.claims, c.req.valid("param").target);
      const caller = c.var.claims.nodeId;
      // After the answer: its timing must not depend on the target's object.
      if (row.id !== caller) afterAnswer((p) => c.executionCtx.waitUntil(p), () => askForPath(c.env, c.var.log, caller, row));
      return c.json(await resolved(c.env, row), 200);
    },
  );
