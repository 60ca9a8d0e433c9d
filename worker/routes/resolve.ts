import { createRoute } from "@hono/zod-openapi";
import { ResolvedNode } from "@pilot/protocol";
import { z } from "zod";
import { requireToken, revoked } from "../auth/node-auth.ts";
import { database } from "../db/client.ts";
import { nodeNotFound, parseTarget } from "../errors.ts";
import { nodeHub } from "../nodes/hub.ts";
import { resolvedView } from "../nodes/views.ts";
import { bearer, errors, json } from "../openapi.ts";
import { findVisibleNode, isRegistered } from "../privacy.ts";
import { createRouter } from "../router.ts";

export const resolveRoutes = createRouter().openapi(
  createRoute({
    method: "get",
    path: "/resolve/{target}",
    tags: ["resolve"],
    summary: "Find a node's key and endpoints by node ID, address or hostname",
    description:
      "Answers only if the target is public, shares a network other than the backbone with the caller, or holds mutual trust with it. Otherwise the answer is exactly the one for a node that does not exist.",
    security: bearer,
    middleware: [requireToken] as const,
    request: {
      params: z.object({
        target: z.string().max(80).meta({ description: "node ID, Pilot address or hostname", example: "my-agent" }),
      }),
    },
    responses: { 200: json(ResolvedNode, "The node"), ...errors(400, 401, 404, 503) },
  }),
  async (c) => {
    const { target } = c.req.valid("param");
    const ref = parseTarget(target);
    const db = database(c.env);
    const claims = c.var.claims;
    const row = await findVisibleNode(db, claims, ref);
    if (!row) throw (await isRegistered(db, claims)) ? nodeNotFound() : revoked();
    return c.json(resolvedView(row, await nodeHub(c.env, row.id).lastSeen(row.tokenEpoch)), 200);
  },
);
