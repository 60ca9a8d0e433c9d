/** Shorthands for declaring routes: JSON bodies and the error responses each route can give. */
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
  404: "No such node, or not visible to the caller",
  409: "Conflict with existing state",
  413: "Request body too large",
  415: "Request body is not JSON",
  422: `Matches the schema, but breaks a rule it cannot state: ${BEYOND_SCHEMA.join("; ")}`,
  429: "Rate limited",
  503: "Registry misconfigured or out of identifiers",
};

export const errors = (...statuses: (keyof typeof ERROR_DESCRIPTIONS)[]) =>
  Object.fromEntries(statuses.map((s) => [s, json(ErrorBody, ERROR_DESCRIPTIONS[s])])) as {
    [K in keyof typeof ERROR_DESCRIPTIONS]?: ReturnType<typeof json<typeof ErrorBody>>;
  };

type SecurityRequirement = Record<string, string[]>;

/** Node routes: a node access token. */
export const bearer: SecurityRequirement[] = [{ bearer: [] }];

/** Account routes: a console session or an account API token. */
export const accountAuth: SecurityRequirement[] = [{ session: [] }, { apiToken: [] }];

/** Admin routes: the operator's credential, never an account's. */
export const operatorAuth: SecurityRequirement[] = [{ operator: [] }];
