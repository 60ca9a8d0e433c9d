import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";

/** This registry's origin, as nodes sign it and as join URLs carry it. */
export const registryOrigin = <E extends AppEnv>(c: Context<E>) => c.env.PUBLIC_ORIGIN || new URL(c.req.url).origin;

/** What an agent on another machine must know when this registry is reached as localhost. */
export const LOOPBACK_NOTE =
  "This registry is reached here as localhost, which names each agent's own machine: an agent on another machine needs an address of this one instead, and a local registry must listen on it (HOST=0.0.0.0 npm start).";

/** Whether an origin names the loopback interface, which other machines cannot reach. */
export const isLoopback = (origin: string) => ["localhost", "127.0.0.1", "[::1]"].includes(new URL(origin).hostname);
