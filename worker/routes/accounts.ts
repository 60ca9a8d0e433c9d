import {
  Account,
  AccountAuditPage,
  ApiTokenInfo,
  CreateApiTokenRequest,
  CreatedApiToken,
  CreatedEnrollmentKey,
  CreateEnrollmentKeyRequest,
  Credentials,
  SignInCredentials,
  EnrollmentKeyInfo,
  PageQuery,
  Session,
} from "@pilot/protocol";
import { z } from "zod";
import { accountAuditPage, recordFailedSignIn } from "../accounts/audit.ts";
import { apiTokensOf, createApiToken, revokeApiToken } from "../accounts/api-tokens.ts";
import { createAccount, signIn } from "../accounts/credentials.ts";
import { createEnrollmentKey, enrollmentKeysOf, revokeEnrollmentKey } from "../accounts/enrollment-keys.ts";
import { accountView } from "../accounts/plan.ts";
import { clientIp, endSession, startSession, type ActiveSession } from "../accounts/session.ts";
import { keyView, tokenView } from "../accounts/views.ts";
import { requireAccount, requireAccountToSignOut } from "../auth/account-auth.ts";
import { database, type Database } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import { accountAuth, errors, json, jsonBody, apiRoute, open } from "../openapi.ts";
import { afterAnswer } from "../even-timing.ts";
import { limitAccountAuth } from "../rate-limit.ts";
import { createRouter } from "../router.ts";
import { iso } from "../time.ts";

const sessionView = async (db: Database, s: ActiveSession) => ({
  account: await accountView(db, s.account),
  csrf_token: s.csrfToken,
  expires_at: iso(s.expiresAt),
});

const IdParam = z.object({ id: z.string().regex(/^[1-9][0-9]{0,14}$/, "must be a positive integer ID").transform(Number) });
const account = { security: accountAuth, middleware: requireAccount };
const DEFAULT_AUDIT_PAGE = 100;

export const accountRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/accounts",
      operationId: "signUp",
      tags: ["accounts"],
      security: open,
      summary: "Sign up; starts a console session",
      middleware: [limitAccountAuth] as const,
      request: { body: jsonBody(Credentials) },
      responses: { 201: json(Session, "Account created and signed in"), ...errors(409, 429, 503) },
    }),
    async (c) => {
      const db = database(c.env);
      const row = await createAccount(db, c.req.valid("json"));
      return c.json(await sessionView(db, await startSession(c, row, "account_created")), 201);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/sessions",
      operationId: "signIn",
      tags: ["accounts"],
      security: open,
      summary: "Sign in; sets the session cookie",
      middleware: [limitAccountAuth] as const,
      request: { body: jsonBody(SignInCredentials) },
      responses: { 200: json(Session, "Signed in"), ...errors(401, 403, 429, 503) },
    }),
    async (c) => {
      const db = database(c.env);
      const credentials = c.req.valid("json");
      const row = await signIn(db, credentials).catch((e: unknown) => {
        if (e instanceof ApiError && e.code === "invalid_credentials") afterAnswer((p) => c.executionCtx.waitUntil(p), () => recordFailedSignIn(db, credentials.email, clientIp(c)));
        throw e;
      });
      return c.json(await sessionView(db, await startSession(c, row, "signed_in")), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/session",
      operationId: "getSession",
      tags: ["accounts"],
      summary: "The current console session and its CSRF token",
      ...account,
      responses: { 200: json(Session, "The session") },
    }),
    async (c) => {
      const session = c.var.session;
      if (!session) throw new ApiError(401, "unauthenticated", "API tokens have no session; use GET /v1/account");
      return c.json(await sessionView(database(c.env), session), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/session",
      operationId: "signOut",
      tags: ["accounts"],
      summary: "Sign out",
      // A suspended account's person may still end the session (auth/account-auth.ts).
      security: accountAuth,
      middleware: requireAccountToSignOut,
      responses: { 204: { description: "Signed out" } },
    }),
    async (c) => {
      const session = c.var.session;
      if (!session) throw new ApiError(401, "unauthenticated", "API tokens have no session to end; revoke the token instead");
      await endSession(c, session);
      return c.body(null, 204);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/account",
      operationId: "getOwnAccount",
      tags: ["accounts"],
      summary: "The account, its plan and usage",
      ...account,
      responses: { 200: json(Account, "The account") },
    }),
    async (c) => c.json(await accountView(database(c.env), c.var.account), 200),
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/account/audit",
      operationId: "listAccountAudit",
      tags: ["accounts"],
      summary: "The account's audit trail, newest first",
      description:
        "Sign-ins (failed ones too, with the address they came from), sign-outs, networks created and deleted, API tokens and enrollment keys created and revoked, plan changes. Entries are kept AUDIT_RETENTION_DAYS (365 unless the operator changed it). A network's own changes are in its trail, GET /v1/networks/{id}/audit, which outlives the network.",
      ...account,
      request: { query: PageQuery },
      responses: { 200: json(AccountAuditPage, "A page of entries") },
    }),
    async (c) => {
      const { cursor, limit = DEFAULT_AUDIT_PAGE } = c.req.valid("query");
      return c.json(await accountAuditPage(database(c.env), c.var.account.id, { cursor, limit }), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/account/tokens",
      operationId: "createApiToken",
      tags: ["accounts"],
      summary: "Create an API token (shown once)",
      ...account,
      request: { body: jsonBody(CreateApiTokenRequest) },
      responses: { 201: json(CreatedApiToken, "The token, shown only now") },
    }),
    async (c) => {
      const { row, token } = await createApiToken(database(c.env), c.var.account.id, c.req.valid("json").name);
      return c.json({ ...tokenView(row), token }, 201);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/account/tokens",
      operationId: "listApiTokens",
      tags: ["accounts"],
      summary: "List API tokens (never their values)",
      ...account,
      responses: { 200: json(z.object({ tokens: z.array(ApiTokenInfo) }), "Tokens, newest first") },
    }),
    async (c) => {
      const rows = await apiTokensOf(database(c.env), c.var.account.id);
      return c.json({ tokens: rows.map(tokenView) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/account/tokens/{id}",
      operationId: "revokeApiToken",
      tags: ["accounts"],
      summary: "Revoke an API token",
      ...account,
      request: { params: IdParam },
      responses: { 200: json(ApiTokenInfo, "Revoked"), ...errors(404) },
    }),
    async (c) => {
      const row = await revokeApiToken(database(c.env), c.var.account.id, c.req.valid("param").id);
      return c.json(tokenView(row), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/account/enrollment-keys",
      operationId: "createEnrollmentKey",
      tags: ["accounts"],
      summary: "Create an enrollment key (shown once)",
      ...account,
      request: { body: jsonBody(CreateEnrollmentKeyRequest) },
      responses: { 201: json(CreatedEnrollmentKey, "The key, shown only now") },
    }),
    async (c) => {
      const { row, key } = await createEnrollmentKey(database(c.env), c.var.account.id, c.req.valid("json"));
      return c.json({ ...keyView(row), key }, 201);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/account/enrollment-keys",
      operationId: "listEnrollmentKeys",
      tags: ["accounts"],
      summary: "List enrollment keys with usage and expiry (never their values)",
      ...account,
      responses: { 200: json(z.object({ keys: z.array(EnrollmentKeyInfo) }), "Keys, newest first") },
    }),
    async (c) => {
      const rows = await enrollmentKeysOf(database(c.env), c.var.account.id);
      return c.json({ keys: rows.map(keyView) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/account/enrollment-keys/{id}",
      operationId: "revokeEnrollmentKey",
      tags: ["accounts"],
      summary: "Revoke an enrollment key",
      ...account,
      request: { params: IdParam },
      responses: { 200: json(EnrollmentKeyInfo, "Revoked"), ...errors(404) },
    }),
    async (c) => {
      const row = await revokeEnrollmentKey(database(c.env), c.var.account.id, c.req.valid("param").id);
      return c.json(keyView(row), 200);
    },
  );
