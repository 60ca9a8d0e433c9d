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

/**
 * The rules the published JSON Schema cannot state, each with the code it is refused with. A request
 * the document admits that breaks one of these gets 422; whatever the schema itself refuses gets 400.
 * Keep this list short: a rule that a pattern, `not`, `uniqueItems` or a choice of shapes can say
 * belongs in the schema.
 */
export const BEYOND_SCHEMA = [
  "invalid_target: an address's second part is its network in four hex digits; a node named for a network by address has its address in that network or the backbone; a node does not ask itself for trust",
  "invalid_public_key: a key is a usable Ed25519 point (not of small order, no torsion component)",
  "ttl_too_short: a trust TTL is at least the registry's minimum (TRUST_TTL_MIN_SECONDS)",
  "invalid_request: a port range [first, last] has first <= last; a join link's expires_at is in the future and within ten years",
] as const;

const ERROR_DESCRIPTIONS = {
  400: "Invalid input",
  401: "Missing, invalid or expired credentials",
  403: "Not allowed: failed CSRF check, enrollment key or join token refused, a plan limit, or an account or node the operator suspended",
  404: "Not found, or not the caller's to see: the answer is the same for both",
  409: "Conflict with existing state",
  413: "Request body too large",
  415: "Request body is not JSON",
  422: `Matches the schema, but breaks a rule it cannot state: ${BEYOND_SCHEMA.join("; ")}`,
  429: "Rate limited (Retry-After says when to try again)",
  503: "Registry misconfigured or out of identifiers",
};

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

const accountCredential = {
  401: "unauthenticated: no valid console session or API token",
  403: "account_suspended: the registry's operator suspended the account; csrf_failed: a session's change without its X-CSRF-Token",
  503: "server_misconfigured: the registry has no TOKEN_SECRET",
};

/** What checking each credential can answer, by security scheme, naming the codes a client can tell apart. */
const CREDENTIAL_ERRORS: Record<string, Partial<Record<ErrorStatus, string>>> = {
  bearer: {
    401: "token_missing, token_invalid, token_expired or token_revoked: no valid access token of a registered node",
    403: "node_suspended: the registry's operator suspended this node",
    503: "server_misconfigured: the registry has no TOKEN_SECRET",
  },
  session: accountCredential,
  apiToken: accountCredential,
  operator: {
    401: "unauthenticated: not the deployment's OPERATOR_TOKEN",
    503: "server_misconfigured: the deployment has no OPERATOR_TOKEN",
  },
};

/**
 * What every route built this way can answer whatever its handler does: its credential's check,
 * input validation, and the body limit, which runs on every /v1 request with a body before any
 * route does (worker/app.ts).
 */
function impliedErrors(config: Pick<RouteConfig, "method" | "request" | "security" | "parameters">) {
  const said = new Map<ErrorStatus, Set<string>>();
  const say = (status: ErrorStatus, description: string) => said.set(status, (said.get(status) ?? new Set()).add(description));
  for (const scheme of new Set((config.security ?? []).flatMap((s) => Object.keys(s)))) {
    for (const [status, description] of Object.entries(CREDENTIAL_ERRORS[scheme] ?? {})) say(Number(status) as ErrorStatus, description);
  }
  const { body, params, query, headers } = config.request ?? {};
  if (params || query || headers || config.parameters || body) say(400, "invalid_request, or a code naming the problem: the input is not valid; the message says where");
  if (body) {
    say(400, "invalid_json: the body is not JSON");
    say(415, "unsupported_media_type: the body is not sent as application/json");
  }
  if (config.method !== "get") say(413, "payload_too_large: the body is over the registry's limit");
  return Object.fromEntries([...said].map(([status, descriptions]) => [status, json(ErrorBody, [...descriptions].join("; "))]));
}

/**
 * createRoute, for the API's routes: an operationId (what generated clients name the call) and an
 * explicit security requirement (`open` for none) are required, and the implied error statuses are
 * added to what the route declares. A route's own description of a status wins.
 */
export const apiRoute = <P extends string, R extends Omit<RouteConfig, "path"> & { path: P; operationId: string; summary: string; security: SecurityRequirement[] }>(
  config: R,
) => createRoute<P, R>({ ...config, responses: { ...impliedErrors(config), ...config.responses } });
