/**
 * Hono's view of the Worker: its generated bindings, and what every request carries
 * (worker/observability/request-context.ts). Who a request proved to be is added by the middleware
 * that checked it (auth/), each with its own variables.
 */
import type { Logger } from "./observability/log.ts";

/** Set for every request before anything else runs. */
export interface RequestVariables {
  requestId: string;
  log: Logger;
}

export interface AppEnv {
  Bindings: Env;
  Variables: RequestVariables;
}
