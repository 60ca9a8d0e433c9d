import type { NodeRow } from "./db/schema.ts";

/** Hono's view of the Worker: the generated bindings, and the node an access token proved. */
export interface AppEnv {
  Bindings: Env;
  Variables: { node: NodeRow };
}
