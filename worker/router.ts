import { OpenAPIHono } from "@hono/zod-openapi";
import { BEYOND_SCHEMA_STATUS, ErrorCode } from "@pilot/protocol";
import type { z } from "zod";
import type { AppEnv } from "./app-env.ts";
import { ApiError } from "./errors.ts";

function describe(issue: z.core.$ZodIssue | undefined, target: string): string {
  if (!issue) return `invalid ${target}`;
  // A choice of shapes names no field itself: say what kept the closest shape from matching.
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const closest = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
    return describe(closest[0] && { ...closest[0], path: [...issue.path, ...closest[0].path] }, target);
  }
  const where = issue.path.length ? issue.path.join(".") : target;
  if (issue.code === "unrecognized_keys") return `${where}: unknown field(s) ${issue.keys.join(", ")}`;
  return `${where}: ${issue.message}`;
}

/** The error code a schema's own check names in its issue's params, as a policy over its rule limit does. */
const namedCode = (issue: z.core.$ZodIssue) => (issue.code === "custom" ? ErrorCode.safeParse(issue.params?.["code"]).data : undefined);

/** A check of a rule the published JSON Schema cannot state (`beyondSchema`). */
const beyondSchema = (issue: z.core.$ZodIssue) => issue.code === "custom" && issue.params?.["status"] === BEYOND_SCHEMA_STATUS;

/**
 * A router whose validation failures become `invalid_request` errors naming the first bad field,
 * unless a check names a more telling code (`policy_too_large`): then that one, with its message.
 * A request that breaks only rules beyond the published schema gets 422, so that 400 always means
 * the request does not match the document.
 */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issues = result.error.issues;
      if (issues.every(beyondSchema)) throw new ApiError(BEYOND_SCHEMA_STATUS, namedCode(issues[0]!)!, describe(issues[0], result.target));
      const schemaIssues = issues.filter((i) => !beyondSchema(i));
      const named = schemaIssues.find((i) => namedCode(i) !== undefined);
      if (named) throw new ApiError(400, namedCode(named)!, describe(named, result.target));
      throw new ApiError(400, "invalid_request", describe(schemaIssues[0], result.target));
    },
  });
