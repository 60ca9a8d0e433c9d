import { OpenAPIHono } from "@hono/zod-openapi";
import { ErrorCode } from "@pilot/protocol";
import type { z } from "zod";
import type { AppEnv } from "./app-env.ts";
import { ApiError } from "./errors.ts";

function describe(issue: z.core.$ZodIssue | undefined, target: string): string {
  if (!issue) return `invalid ${target}`;
  const where = issue.path.length ? issue.path.join(".") : target;
  if (issue.code === "unrecognized_keys") return `${where}: unknown field(s) ${issue.keys.join(", ")}`;
  return `${where}: ${issue.message}`;
}

/** The error code a schema's own check names in its issue's params, as a policy over its rule limit does. */
const namedCode = (issue: z.core.$ZodIssue) => (issue.code === "custom" ? ErrorCode.safeParse(issue.params?.["code"]).data : undefined);

/**
 * A router whose validation failures become `invalid_request` errors naming the first bad field,
 * unless a check names a more telling code (`policy_too_large`): then that one, with its message.
 */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const named = result.error.issues.find((i) => namedCode(i) !== undefined);
      if (named) throw new ApiError(400, namedCode(named)!, describe(named, result.target));
      throw new ApiError(400, "invalid_request", describe(result.error.issues[0], result.target));
    },
  });
