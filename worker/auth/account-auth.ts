/**
 * Authentication of people and their automation on account routes: an API token
 * (`Authorization: Bearer pat_…`) or a console session cookie. Cookie-authenticated requests that
 * change state must also pass the CSRF check: the session's token in X-CSRF-Token, and an Origin
 * header, when present, naming this registry.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { accountOfApiToken } from "../accounts/api-tokens.ts";
import { currentSession, type ActiveSession } from "../accounts/session.ts";
import { refuseSuspended } from "../accounts/suspension.ts";
import type { AppEnv, RequestVariables } from "../app-env.ts";
import { database } from "../db/client.ts";
import type { AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { sameSecret } from "./secrets.ts";

const API_TOKEN = /^Bearer (pat_[A-Za-z0-9_-]{43})$/i;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const unauthenticated = (message: string) => new ApiError(401, "unauthenticated", message);

/**
 * The account an API token or a session cookie names; a session only when the cookie did. A
 * suspended account is refused, unless `signingOut`: ending its own session is the one thing a
 * suspended person may still do, so a browser is not left signed in for the restoration.
 */
export async function authenticateAccount<E extends AppEnv>(c: Context<E>, signingOut = false): Promise<{ account: AccountRow; session: ActiveSession | undefined }> {
  const header = c.req.header("authorization");
  if (header !== undefined) {
    const match = API_TOKEN.exec(header);
    if (!match) throw unauthenticated("account routes take a console session or Authorization: Bearer pat_… (an API token)");
    const account = await accountOfApiToken(database(c.env), match[1]!);
    if (!account) throw unauthenticated("the API token is unknown or was revoked; create one in the console");
    refuseSuspended(account);
    return { account, session: undefined };
  }
  const session = await currentSession(c);
  if (!session) throw unauthenticated("sign in first (POST /v1/sessions), or send an API token");
  if (!signingOut) refuseSuspended(session.account);
  if (!SAFE_METHODS.has(c.req.method)) {
    const origin = c.req.header("origin");
    const csrf = c.req.header("x-csrf-token") ?? "";
    if ((origin !== undefined && origin !== new URL(c.req.url).origin) || !(await sameSecret(csrf, session.csrfToken))) {
      throw new ApiError(403, "csrf_failed", "send the session's csrf_token in the X-CSRF-Token header, from a page of this registry");
    }
  }
  return { account: session.account, session };
}

export interface AccountEnv extends AppEnv {
  Variables: RequestVariables & { account: AccountRow; session: ActiveSession | undefined };
}

const accountMiddleware = (signingOut: boolean) =>
  createMiddleware<AccountEnv>(async (c, next) => {
    const { account, session } = await authenticateAccount(c, signingOut);
    c.set("account", account);
    c.set("session", session);
    await next();
  });

/** Requires an account, into `c.var.account`, and `c.var.session` when a session cookie proved it. */
export const requireAccount = accountMiddleware(false);

/** As requireAccount, but lets a suspended account's session through: for signing out only. */
export const requireAccountToSignOut = accountMiddleware(true);
