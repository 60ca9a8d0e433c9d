/**
 * The registry's HTTP API: everything under /v1, JSON in and out, every input validated by the
 * shared zod schemas, which also generate /v1/openapi.json. All failures leave through `onError`
 * as `{"error":{"code","message"}}`.
 */
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { Health } from "@pilot/protocol";
import { ApiError } from "./errors.ts";
import { apiRoute, json, open } from "./openapi.ts";
import { requestContext, routePattern } from "./observability/request-context.ts";
import { registryOrigin } from "./origin.ts";
import { createRouter } from "./router.ts";
import { accountRoutes } from "./routes/accounts.ts";
import { adminStatsRoutes } from "./routes/admin-stats.ts";
import { adminRoutes } from "./routes/admin.ts";
import { auth } from "./routes/auth.ts";
import { certificateRoutes } from "./routes/certificates.ts";
import { consoleRoutes } from "./routes/console.tsx";
import { joinPage } from "./routes/join-page.ts";
import { joinLinkRoutes } from "./routes/join-links.ts";
import { membershipRoutes } from "./routes/memberships.ts";
import { networkRoutes } from "./routes/networks.ts";
import { nodeRoutes } from "./routes/nodes.ts";
import { policyRoutes } from "./routes/policy.ts";
import { relayRoutes } from "./routes/relay.ts";
import { resolveRoutes } from "./routes/resolve.ts";
import { revocationRoutes } from "./routes/revocations.ts";
import { trustRoutes } from "./routes/trust.ts";
import { turnRoutes } from "./routes/turn.ts";

export const MAX_BODY_BYTES = 16 * 1024;

/** Hono's own validators throw these before our handlers run. */
const HONO_ERRORS: Partial<Record<number, ApiError>> = {
  400: new ApiError(400, "invalid_json", "the request body is not valid JSON"),
  415: new ApiError(415, "unsupported_media_type", "send the request body as Content-Type: application/json"),
};

export const app = createRouter();

app.use("*", requestContext);
app.use(
  "/v1/*",
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    },
  }),
);

app.openapi(
  apiRoute({
    method: "get",
    path: "/v1/health",
    operationId: "getHealth",
    tags: ["meta"],
    security: open,
    summary: "Liveness probe",
    responses: { 200: json(Health, "The registry is up") },
  }),
  (c) => c.json({ status: "ok" as const }, 200),
);

app.route("/v1", auth);
app.route("/v1", nodeRoutes);
app.route("/v1", resolveRoutes);
app.route("/v1", certificateRoutes);
app.route("/v1", accountRoutes);
app.route("/v1", networkRoutes);
app.route("/v1", joinLinkRoutes);
app.route("/v1", membershipRoutes);
app.route("/v1", policyRoutes);
app.route("/v1", trustRoutes);
app.route("/v1", revocationRoutes);
app.route("/v1", relayRoutes);
app.route("/v1", turnRoutes);
app.route("/v1", adminStatsRoutes);
app.route("/v1", adminRoutes);
app.route("/", joinPage);
app.route("/", consoleRoutes);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
  type: "http",
  scheme: "bearer",
  bearerFormat: "JWT",
  description: "Node access token from POST /v1/nodes or POST /v1/auth/token",
});
app.openAPIRegistry.registerComponent("securitySchemes", "apiToken", {
  type: "http",
  scheme: "bearer",
  description: "Account API token (pat_…) from POST /v1/account/tokens",
});
app.openAPIRegistry.registerComponent("securitySchemes", "session", {
  type: "apiKey",
  in: "cookie",
  name: "pilot_session",
  description: "Console session from POST /v1/sessions; state-changing requests also send X-CSRF-Token",
});

app.openAPIRegistry.registerComponent("securitySchemes", "operator", {
  type: "http",
  scheme: "bearer",
  description: "The deployment's OPERATOR_TOKEN secret (wrangler secret put OPERATOR_TOKEN); admin routes only",
});

// The document names the registry it came from, so a client generated from it needs no base URL.
app.doc31("/v1/openapi.json", (c) => ({
  openapi: "3.1.0",
  servers: [{ url: registryOrigin(c), description: "This registry" }],
  info: {
    title: "Pilot registry",
    version: "1",
    description: "Node identity and presence, privacy-gated resolution, accounts, networks and their push channels.",
  },
}));

app.notFound((c) => c.json(new ApiError(404, "route_not_found", `no route for ${c.req.method} ${c.req.path}`).body(), 404));

app.onError((err, c) => {
  const known = err instanceof ApiError ? err : err instanceof HTTPException ? HONO_ERRORS[err.status] : undefined;
  if (known) return c.json(known.body(), known.status, known.headers);
  c.var.log.error("unhandled_error", { method: c.req.method, route: routePattern(c) }, err);
  const requestId = c.var.requestId;
  return c.json(new ApiError(500, "internal", `the registry failed to handle this request; quote request ID ${requestId} to its operator`).body(), 500);
});
