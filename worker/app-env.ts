import type { ActiveSession } from "./accounts/session.ts";
import type { TokenClaims } from "./auth/access-token.ts";
import type { AccountRow, NodeRow } from "./db/schema.ts";

/**
 * Hono's view of the Worker: the generated bindings, and who the request proved to be: a node
 * (access token), or an account (API token or session).
 */
export interface AppEnv {
  Bindings: Env;
  Variables: { node: NodeRow; claims: TokenClaims; account: AccountRow; session: ActiveSession | undefined };
}
