import {
  AddMemberRequest,
  AddMemberResponse,
  AuditPage,
  CreateNetworkRequest,
  decimalRange,
  formatAddress,
  MAX_NETWORK_ID,
  MemberPage,
  Network,
  NetworkList,
  NodeIdText,
  NodeRefText,
  PageQuery,
  RotateTokenRequest,
} from "@pilot/protocol";
import { z } from "zod";
import { planUsage } from "../accounts/plan.ts";
import { requireAccount } from "../auth/account-auth.ts";
import { requireAccountOrNode } from "../auth/either-auth.ts";
import { database, type Database } from "../db/client.ts";
import { networkHub } from "../networks/hub.ts";
import { generateJoinToken } from "../networks/join-token.ts";
import { createNetwork } from "../networks/lifecycle.ts";
import { howToGetMore } from "../accounts/upgrade.ts";
import { memberPage } from "../networks/member-list.ts";
import { networkNotFound, toError, unwrap } from "../networks/outcome.ts";
import { trailPage } from "../networks/audit.ts";
import { isMember, networksOwnedBy, nodeNamed, ownedNetwork } from "../networks/queries.ts";
import { networkView } from "../networks/views.ts";
import { iso } from "../time.ts";
import { accountAuth, bearer, errors, json, jsonBody, apiRoute } from "../openapi.ts";
import { registryOrigin } from "../origin.ts";
import { limitPerAccount } from "../rate-limit.ts";
import { DISCREET_FLOOR_MS, noSoonerThan } from "../even-timing.ts";
import { createRouter } from "../router.ts";

export const NetworkParam = z.object({
  id: z.string().regex(decimalRange(1, MAX_NETWORK_ID), `must be a network ID from 1 to ${MAX_NETWORK_ID}`).transform(Number),
});

const account = { security: accountAuth, middleware: requireAccount };
const DEFAULT_PAGE = 100;

/** The account's network with its plan's member limit, or the same 404 for "missing" and "not yours". */
export async function ownedOrNotFound(db: Database, accountId: number, networkId: number) {
  const net = await ownedNetwork(db, networkId, accountId);
  if (!net) throw toError(networkNotFound());
  return net;
}

export const networkRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks",
      operationId: "createNetwork",
      tags: ["networks"],
      summary: "Create a network",
      ...account,
      request: { body: jsonBody(CreateNetworkRequest) },
      responses: { 201: json(Network, "Created"), ...errors(403, 409) },
    }),
    async (c) => {
      const db = database(c.env);
      const id = await createNetwork(db, c.var.account, c.req.valid("json"), howToGetMore(c.env));
      const net = await ownedOrNotFound(db, c.var.account.id, id);
      return c.json(networkView(net, net.maxMembers, registryOrigin(c)), 201);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks",
      operationId: "listNetworks",
      tags: ["networks"],
      summary: "The account's networks and its plan usage",
      ...account,
      responses: { 200: json(NetworkList, "Networks, oldest first") },
    }),
    async (c) => {
      const db = database(c.env);
      const usage = await planUsage(db, c.var.account);
      const rows = await networksOwnedBy(db, c.var.account.id);
      const origin = registryOrigin(c);
      return c.json({ networks: rows.map((r) => networkView(r, usage.max_members, origin)), plan: usage }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}",
      operationId: "getNetwork",
      tags: ["networks"],
      summary: "One of the account's networks, with its join token and join URL",
      ...account,
      request: { params: NetworkParam },
      responses: { 200: json(Network, "The network"), ...errors(404) },
    }),
    async (c) => {
      const net = await ownedOrNotFound(database(c.env), c.var.account.id, c.req.valid("param").id);
      return c.json(networkView(net, net.maxMembers, registryOrigin(c)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/networks/{id}",
      operationId: "deleteNetwork",
      tags: ["networks"],
      summary: "Delete a network: every membership ends at once; nodes keep their registration and trust",
      ...account,
      request: { params: NetworkParam },
      responses: { 204: { description: "Deleted" }, ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      unwrap(await networkHub(c.env, id).deleteNetwork(id, c.var.account.id, c.var.requestId));
      return c.body(null, 204);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks/{id}/token",
      operationId: "rotateJoinToken",
      tags: ["networks"],
      summary: "Rotate the join token: the default join link is revoked and a new one takes its place; other links keep working",
      ...account,
      request: { params: NetworkParam, body: jsonBody(RotateTokenRequest) },
      responses: { 200: json(Network, "The network with its new token"), ...errors(404, 409, 429) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { token } = c.req.valid("json");
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, c.var.account.id, "token rotations");
      unwrap(await networkHub(c.env, id).rotateToken(id, c.var.account.id, token ?? generateJoinToken(), c.var.requestId));
      const net = await ownedOrNotFound(database(c.env), c.var.account.id, id);
      return c.json(networkView(net, net.maxMembers, registryOrigin(c)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks/{id}/members",
      operationId: "addMember",
      tags: ["networks"],
      summary: "Add a node by node ID, Pilot address or hostname",
      description:
        "A node the account owns (it registered with one of the account's enrollment keys) becomes a member at once. Any other name is invited: if such a node exists it can accept within 7 days. The answer is the same whether or not it exists. Invitations, their withdrawal, token rotations and join link changes share a budget of 60 a minute per account.",
      ...account,
      request: { params: NetworkParam, body: jsonBody(AddMemberRequest) },
      responses: { 200: json(AddMemberResponse, "What happened"), ...errors(403, 404, 422, 429) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const owner = c.var.account;
      const db = database(c.env);
      const net = await ownedOrNotFound(db, owner.id, id);
      const name = c.req.valid("json").node;
      const node = await nodeNamed(db, name, id);
      const hub = networkHub(c.env, id);
      if (node && node.ownerAccountId === owner.id) {
        const { result } = unwrap(await hub.add(id, owner.id, node.id, c.var.requestId));
        return c.json({ result, node_id: node.id, address: formatAddress({ network: id, node: node.id }) }, 200);
      }
      // Counted for every name that is not the owner's own node, whether or not it exists.
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, owner.id, "invitations");
      const invited = await noSoonerThan(DISCREET_FLOOR_MS, async () => unwrap(await hub.invite(net.row.id, owner.id, node?.id ?? null, name, c.var.requestId)));
      if (invited.result === "already_member" && node) {
        return c.json({ result: invited.result, node_id: node.id, address: formatAddress({ network: id, node: node.id }) }, 200);
      }
      return c.json({ result: "invited" as const, expires_at: iso(invited.expiresAt) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/networks/{id}/invitations/{name}",
      operationId: "withdrawInvitation",
      tags: ["networks"],
      summary: "Withdraw an invitation, naming the node as when it was invited",
      description:
        "The invited node's daemon hears at once that the invitation is gone. The answer is the same whether or not such a node exists or was invited, so withdrawing never reveals whether a private node exists.",
      ...account,
      request: { params: NetworkParam.extend({ name: NodeRefText }) },
      responses: { 204: { description: "No open invitation for that name remains" }, ...errors(404, 422, 429) },
    }),
    async (c) => {
      const { id, name } = c.req.valid("param");
      const db = database(c.env);
      await ownedOrNotFound(db, c.var.account.id, id);
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, c.var.account.id, "invitation changes");
      const node = await nodeNamed(db, name, id);
      await noSoonerThan(DISCREET_FLOOR_MS, async () => unwrap(await networkHub(c.env, id).withdrawInvitation(id, c.var.account.id, node?.id ?? null, name, c.var.requestId)));
      return c.body(null, 204);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/networks/{id}/members/{node_id}",
      operationId: "removeMember",
      tags: ["networks"],
      summary: "Remove a member: its access ends before this answers",
      ...account,
      request: {
        params: NetworkParam.extend({ node_id: NodeIdText }),
      },
      responses: { 204: { description: "Removed" }, ...errors(404) },
    }),
    async (c) => {
      const { id, node_id } = c.req.valid("param");
      unwrap(await networkHub(c.env, id).remove(id, { type: "account", id: c.var.account.id }, node_id, "removed", c.var.requestId));
      return c.body(null, 204);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}/members",
      operationId: "listMembers",
      tags: ["networks"],
      summary: "Members, for the owner and for members only",
      security: [...accountAuth, ...bearer],
      middleware: requireAccountOrNode,
      request: { params: NetworkParam, query: PageQuery },
      responses: { 200: json(MemberPage, "A page of members"), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { cursor, limit = DEFAULT_PAGE } = c.req.valid("query");
      const db = database(c.env);
      const caller = c.var.caller;
      const allowed = "node" in caller ? await isMember(db, id, caller.node.id) : (await ownedNetwork(db, id, caller.account.id)) !== undefined;
      if (!allowed) throw toError(networkNotFound());
      return c.json(await memberPage(c.env, db, id, { cursor, limit }, !("node" in caller)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}/audit",
      operationId: "listNetworkAudit",
      tags: ["networks"],
      summary: "The network's audit log, newest first",
      description:
        "Also for a network the account deleted: its trail ends with its deletion and is kept until entries age out (AUDIT_RETENTION_DAYS). Any other account gets the 404 of a network that does not exist.",
      ...account,
      request: { params: NetworkParam, query: PageQuery },
      responses: { 200: json(AuditPage, "A page of entries"), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { cursor, limit = DEFAULT_PAGE } = c.req.valid("query");
      const page = await trailPage(database(c.env), id, c.var.account.id, { cursor, limit });
      if (!page) throw toError(networkNotFound());
      return c.json(page, 200);
    },
  );

