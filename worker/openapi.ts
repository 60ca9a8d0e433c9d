/**
 * Declaring routes so /v1/openapi.json is as exact as the server: JSON bodies, and every error
 * status a route can give. `apiRoute` adds the statuses that follow from how a route is built (its
 * credential, its body, its parameters), so a route lists only those of its own handler.
 */
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import { ErrorBody } from "@pilot/protocol";
import type { z } from "zod";

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
  required: true,
});

const ERROR_DESCRIPTIONS = {
  400: "Invalid input",
  401: "Missing, invalid or expired credentials",
  403: "Not allowed: failed CSRF check, enrollment key or join token refused, a plan limit, or an account or node the operator suspended",
  404: "No such node, or not visible to the caller",
  409: "Conflict with existing state",
  413: "Request body too large",
  415: "Request body is not JSON",
  429: "Rate limited (Retry-After says when to try again)",
  503: "Registry misconfigured or out of identifiers",
} as const;

type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

export const errors = (...statuses: ErrorStatus[]) =>
  Object.fromEntries(statuses.map((s) => [s, json(ErrorBody, ERROR_DESCRIPTIONS[s])])) as {
    [K in ErrorStatus]?: ReturnType<typeof json<typeof ErrorBody>>;
  };

type SecurityRequirement = Record<string, string[]>;

/** Open routes: no credential at all, said explicitly so clients and linters need not guess. */
export const open: SecurityRequirement[] = [];

/** Node routes: a node access token. */
export const bearer: SecurityRequirement[] = [{ bearer: [] }];

/** Account routes: a console session or an account API token. */
export const accountAuth: SecurityRequirement[] = [{ session: [] }, { apiToken: [] }];

/** Admin routes: the operator's credential, never an account's. */
export const operatorAuth: SecurityRequirement[] = [{ operator: [] }];

/** The WebSocket routes' handshake: OpenAPI has no WebSocket, so the upgrade is a header and a 101. */
export const webSocket = {
  parameters: [
    {
      name: "Upgrade",
      in: "header" as const,
      required: true,
      schema: { type: "string" as const, enum: ["websocket"] },
      description: "The WebSocket handshake (RFC 6455); without it the route answers 400",
    },
  ],
  switching: { 101: { description: "Switching protocols: the WebSocket is open" } },
};

/**
 * What every route built this way can answer whatever its handler does: authentication (a node's
 * token, 403 node_suspended; an account's, 403 account_suspended or csrf_failed; TOKEN_SECRET
 * missing, 503; the operator's token, 503 when unset), input validation, and the body limit, which
 * runs on every /v1 request with a body before any route (worker/app.ts).
 */
function impliedStatuses(config: Pick<RouteConfig, "method" | "request" | "security" | "parameters">): ErrorStatus[] {
  const statuses: ErrorStatus[] = [];
  const schemes = new Set((config.security ?? []).flatMap((s) => Object.keys(s)));
  if (schemes.has("operator")) statuses.push(401, 503);
  else if (schemes.size > 0) statuses.push(401, 403, 503);
  const { body, params, query, headers } = config.request ?? {};
  if (body) statuses.push(400, 415);
  if (params || query || headers || config.parameters) statuses.push(400);
  if (config.method !== "get") statuses.push(413);
  return statuses;
}

/**
 * createRoute, for the API's routes: an operationId (what generated clients name the call) and an
 * explicit security requirement (`open` for none) are required, and the implied error statuses are
 * added to what the route declares. A route's own description of a status wins.
 */
export const apiRoute = <P extends string, R extends Omit<RouteConfig, "path"> & { path: P; operationId: string; summary: string; security: SecurityRequirement[] }>(
  config: R,
) => createRoute<P, R>({ ...config, responses: { ...errors(...impliedStatuses(config)), ...config.responses } });
