import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";

/** This registry's origin, as nodes sign it and as join URLs carry it. */
export const registryOrigin = (c: Context<AppEnv>) => c.env.PUBLIC_ORIGIN || new URL(c.req.url).origin;
