/**
 * Hono's view of the Worker: its generated bindings. Who a request proved to be is added by the
 * middleware that checked it (auth/), each with its own variables.
 */
export interface AppEnv {
  Bindings: Env;
}

