/**
 * The operator's admin API under /v1/admin (docs/admin.md): accounts found and read, plans edited
 * and given, accounts and nodes suspended and restored. Every route takes the deployment's
 * OPERATOR_TOKEN (worker/auth/operator-auth.ts), never an account's credentials, and every change
 * leaves a trace (worker/operator-log.ts).
 */
import {
  AccountDetail,
  AccountIdParam,
  AccountPage,
  AccountQuery,
  NodeIdParam,
  NodeSuspension,
  Plan,
  PlanLimitsRequest,
  PlanList,
  PlanParam,
  SetPlanRequest,
  SuspendRequest,
} from "@pilot/protocol";
import { accountDetail, findAccounts } from "../accounts/directory.ts";
import { deletePlan, listPlans, putPlan, setAccountPlan } from "../accounts/plan-catalogue.ts";
import { restoreAccount, suspendAccount } from "../accounts/suspension.ts";
import { requireOperator } from "../auth/operator-auth.ts";
import { database } from "../db/client.ts";
import { restoreNode, suspendNode, suspensionView } from "../nodes/suspension.ts";
import { errors, json, jsonBody, operatorAuth, apiRoute } from "../openapi.ts";
import { recordOperatorAction } from "../operator-log.ts";
import { createRouter } from "../router.ts";

const DEFAULT_PAGE = 100;

const operator = { tags: ["admin"], security: operatorAuth, middleware: requireOperator };

/** The reason is optional, and so is the body that carries it: `curl -X POST` with nothing suspends. */
const optionalSuspendBody = { content: { "application/json": { schema: SuspendRequest } }, required: false };

export const adminRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "get",
      path: "/admin/accounts",
      operationId: "listAccounts",
      summary: "Find accounts by email, plan or suspension, a page at a time",
      ...operator,
      request: { query: AccountQuery },
      responses: { 200: json(AccountPage, "A page of accounts, in ID order") },
    }),
    async (c) => {
      const { limit = DEFAULT_PAGE, ...filter } = c.req.valid("query");
      return c.json(await findAccounts(database(c.env), { ...filter, limit }), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/admin/accounts/{id}",
      operationId: "getAccount",
      summary: "One account: its plan, limits, usage and suspension",
      ...operator,
      request: { params: AccountIdParam },
      responses: { 200: json(AccountDetail, "The account"), ...errors(404) },
    }),
    async (c) => c.json(await accountDetail(database(c.env), c.req.valid("param").id), 200),
  )
  .openapi(
    apiRoute({
      method: "put",
      path: "/admin/accounts/{id}/plan",
      operationId: "setAccountPlan",
      summary: "Move an account to a plan",
      description:
        "Takes effect at once. An account over the new plan's limits keeps every network and member it has; it cannot create networks or admit members beyond them (403 plan_limit).",
      ...operator,
      request: { params: AccountIdParam, body: jsonBody(SetPlanRequest) },
      responses: { 200: json(AccountDetail, "The account on its new plan"), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { plan } = c.req.valid("json");
      const db = database(c.env);
      await setAccountPlan(db, id, plan);
      recordOperatorAction(c.req.raw, { action: "account_plan_set", account_id: id, plan });
      return c.json(await accountDetail(db, id), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/admin/plans",
      operationId: "listPlans",
      summary: "Every plan, with its limits and how many accounts are on it",
      ...operator,
      responses: { 200: json(PlanList, "The plans") },
    }),
    async (c) => c.json({ plans: await listPlans(database(c.env)) }, 200),
  )
  .openapi(
    apiRoute({
      method: "put",
      path: "/admin/plans/{id}",
      operationId: "putPlan",
      summary: "Create a plan, or change its limits",
      description: "New limits apply to the plan's accounts at once, to what they create or admit next; nothing they have is taken away.",
      ...operator,
      request: { params: PlanParam, body: jsonBody(PlanLimitsRequest) },
      responses: { 200: json(Plan, "Changed"), 201: json(Plan, "Created") },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const limits = c.req.valid("json");
      const { created, plan } = await putPlan(database(c.env), id, limits);
      recordOperatorAction(c.req.raw, { action: "plan_put", plan: id });
      return created ? c.json(plan, 201) : c.json(plan, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/admin/plans/{id}",
      operationId: "deletePlan",
      summary: "Delete a plan no account is on",
      description: "409 plan_in_use while any account is on it, and always for free, the plan new accounts get.",
      ...operator,
      request: { params: PlanParam },
      responses: { 204: { description: "Deleted" }, ...errors(404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      await deletePlan(database(c.env), id);
      recordOperatorAction(c.req.raw, { action: "plan_deleted", plan: id });
      return c.body(null, 204);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/admin/accounts/{id}/suspend",
      operationId: "suspendAccount",
      summary: "Suspend an account",
      description:
        "Its sessions, API tokens, sign-in and enrollment keys are refused with 403 account_suspended (with the reason, if given); its networks take no new members. Its networks and nodes keep running: suspend nodes to cut them off.",
      ...operator,
      request: { params: AccountIdParam, body: optionalSuspendBody },
      responses: { 200: json(AccountDetail, "The account, suspended"), ...errors(404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const reason = c.req.valid("json")?.reason ?? null;
      const db = database(c.env);
      await suspendAccount(c.env, db, id, reason);
      recordOperatorAction(c.req.raw, { action: "account_suspended", account_id: id, reason });
      return c.json(await accountDetail(db, id), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/admin/accounts/{id}/restore",
      operationId: "restoreAccount",
      summary: "Lift an account's suspension",
      ...operator,
      request: { params: AccountIdParam },
      responses: { 200: json(AccountDetail, "The account, restored"), ...errors(404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const db = database(c.env);
      await restoreAccount(db, id);
      recordOperatorAction(c.req.raw, { action: "account_restored", account_id: id });
      return c.json(await accountDetail(db, id), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/admin/nodes/{id}/suspend",
      operationId: "suspendNode",
      summary: "Suspend a node: cut off at once, kept for its restoration",
      description:
        "Before the answer: its tokens stop working, resolve and the relay treat it as a missing node, its channels and relay connection close, its co-members hear member_removed (reason suspended) and its trust peers trust_revoked (reason suspended), so their daemons cut it off. It gets no token or certificate (403 node_suspended, with the reason). Its memberships and trust pairs are kept.",
      ...operator,
      request: { params: NodeIdParam, body: optionalSuspendBody },
      responses: { 200: json(NodeSuspension, "The node, suspended"), ...errors(404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const reason = c.req.valid("json")?.reason ?? null;
      const row = await suspendNode(c.env, database(c.env), id, reason);
      recordOperatorAction(c.req.raw, { action: "node_suspended", node_id: id, reason });
      return c.json(suspensionView(row), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/admin/nodes/{id}/restore",
      operationId: "restoreNode",
      summary: "Lift a node's suspension",
      description: "The node gets tokens again and is seen as before, in every network and trust pair it had; nobody registers or approves anything again.",
      ...operator,
      request: { params: NodeIdParam },
      responses: { 200: json(NodeSuspension, "The node, restored"), ...errors(404, 409) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const row = await restoreNode(c.env, database(c.env), id);
      recordOperatorAction(c.req.raw, { action: "node_restored", node_id: id });
      return c.json(suspensionView(row), 200);
    },
  );
