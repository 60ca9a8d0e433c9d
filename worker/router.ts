import { OpenAPIHono } from "@hono/zod-openapi";
import type { z } from "zod";
import type { AppEnv } from "./app-env.ts";
import { ApiError } from "./errors.ts";

function describe(error: z.ZodError, target: string): string {
  const issue = error.issues[0];
  if (!issue) return `invalid ${target}`;
  const where = issue.path.length ? issue.path.join(".") : target;
  if (issue.code === "unrecognized_keys") return `${where}: unknown field(s) ${issue.keys.join(", ")}`;
  return `${where}: ${issue.message}`;
}

/** A router whose validation failures become `invalid_request` errors naming the first bad field. */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw new ApiError(400, "invalid_request", describe(result.error, result.target));
    },
  });
