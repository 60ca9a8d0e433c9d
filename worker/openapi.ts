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

const ERROR_DESCRIPTIONS = {
  400: "Invalid input",
  401: "Missing, invalid or expired credentials",
  403: "Not allowed: failed CSRF check, enrollment key or join token refused, a plan limit, or an account or node the operator suspended",
  404: "No such node, or not visible to the caller",
  409: "Conflict with existing state",
  413: "Request body too large",
  415: "Request body is not JSON",
  429: "Rate limited",
  503: "Registry misconfigured or out of identifiers",
} as const;

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
