import { ErrorBody, TurnCredentials } from "@pilot/protocol";
import { requireNode } from "../auth/node-auth.ts";
import { bearer, errors, json, apiRoute } from "../openapi.ts";
import { limitPerNode } from "../rate-limit.ts";
import { createRouter } from "../router.ts";
import { mintTurnCredentials, TURN_CREDENTIAL_TTL_SECONDS } from "../turn/credentials.ts";

export const turnRoutes = createRouter().openapi(
  apiRoute({
    method: "post",
    path: "/relay/turn",
    operationId: "requestTurnCredentials",
    tags: ["relay"],
    summary: "Short-lived credentials for the operator's TURN service",
    description: `When the operator configured Cloudflare's TURN service, credentials for it, good for ${TURN_CREDENTIAL_TTL_SECONDS / 60} minutes, with its \`turn:\` UDP servers only. Without it, 404 turn_not_configured: peers without a direct path use the registry's WebSocket relay. A node may ask 10 times a minute.`,
    security: bearer,
    middleware: [requireNode] as const,
    responses: {
      200: json(TurnCredentials, "TURN servers and credentials"),
      ...errors(429),
      404: json(ErrorBody, "turn_not_configured: this registry offers no TURN service"),
      503: json(ErrorBody, "turn_unavailable: the TURN service did not issue credentials"),
    },
  }),
  async (c) => {
    await limitPerNode(c.env.TURN_LIMITER, c.var.node.id, "TURN credential requests");
    return c.json(await mintTurnCredentials(c.env, c.var.log), 200);
  },
);
