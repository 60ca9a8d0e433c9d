import { createRoute } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import {
  AddMemberRequest,
  AddMemberResponse,
  AuditPage,
  CreateNetworkRequest,
  formatAddress,
  MemberPage,
  Network,
  NetworkList,
  PageQuery,
  RotateTokenRequest,
} from "@pilot/protocol";
import { z } from "zod";
import { networkHub } from "../../durable-objects/network-hub.ts";
import { planUsage } from "../accounts/plan.ts";
import { requireAccount } from "../auth/account-auth.ts";
import { requireAccountOrNode } from "../auth/either-auth.ts";
import { database, type Database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { accounts, auditLog, memberships, networks, nodes, plans, type AccountRow, type NodeRow } from "../db/schema.ts";
import { ApiError, parseTarget } from "../errors.ts";
import { generateJoinToken } from "../networks/join-token.ts";
import { networkNotFound, unwrap } from "../networks/outcome.ts";
import { auditView, memberView, networkView } from "../networks/views.ts";
import { iso } from "../time.ts";
import { accountAuth, bearer, errors, json, jsonBody } from "../openapi.ts";
import { registryOrigin } from "../origin.ts";
import { limitPerAccount } from "../rate-limit.ts";
import { DISCREET_FLOOR_MS, noSoonerThan } from "../even-timing.ts";
import { createRouter } from "../router.ts";

export const NetworkParam = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,4}$/, "must be a network ID from 1 to 65535")
    .transform(Number)
    .refine((n) => n <= 0xffff, "must be a network ID from 1 to 65535"),
});

const account = { security: accountAuth, middleware: requireAccount };
const DEFAULT_PAGE = 100;

/** The account's network with its plan's member limit, or the same 404 for "missing" and "not yours". */
async function ownedNetwork(db: Database, owner: AccountRow, networkId: number) {
  const row = await db
    .select({ row: networks, maxMembers: plans.maxMembers })
    .from(networks)
    .innerJoin(accounts, eq(accounts.id, networks.accountId))
    .innerJoin(plans, eq(plans.id, accounts.plan))
    .where(and(eq(networks.id, networkId), eq(networks.accountId, owner.id)))
    .get();
  if (!row) throw new ApiError(404, "network_not_found", networkNotFound().message);
  return row;
}

/**
 * Finds the node a person named for a network, among registered nodes (no privacy gate: the answer
 * is never shown). An address must be the node's backbone address or its address in this network.
 */
async function findNode(db: Database, name: string, networkId: number): Promise<NodeRow | undefined> {
  const ref = parseTarget(name);
  if (ref.kind === "address" && ref.address.network !== 0 && ref.address.network !== networkId) {
    throw new ApiError(400, "invalid_target", `${name} is an address in network ${ref.address.network}; use the node's address in network ${networkId}, its backbone address (0:…), its node ID or its hostname`);
  }
  const where =
    ref.kind === "hostname" ? eq(nodes.hostname, ref.hostname) : eq(nodes.id, ref.kind === "id" ? ref.node : ref.address.node);
  const row = await db.query.nodes.findFirst({ where });
  return row && row.deregisteredAt === null ? row : undefined;
}

export const networkRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/networks",
      tags: ["networks"],
      summary: "Create a network",
      ...account,
      request: { body: jsonBody(CreateNetworkRequest) },
      responses: { 201: json(Network, "Created"), ...errors(400, 401, 403, 409, 413, 415, 503) },
    }),
    async (c) => {
      const { name, join_rule, token } = c.req.valid("json");
      const owner = c.var.account;
      const db = database(c.env);
      const joinToken = join_rule === "token" ? (token ?? generateJoinToken()) : null;
      const now = Date.now();
      let created: { id: number } | null;
      try {
        // One statement checks the plan and inserts, so concurrent creations cannot pass the limit;
        // the audit entry lands in the same transaction, and only if the network did.
        const [inserted] = await c.env.DB.batch<{ id: number }>([
          c.env.DB.prepare(
            `INSERT INTO networks (account_id, name, join_rule, join_token, created_at)
             SELECT ?1, ?2, ?3, ?4, ?5
             WHERE (SELECT count(*) FROM networks WHERE account_id = ?1)
                   < (SELECT p.max_networks FROM accounts a JOIN plans p ON p.id = a.plan WHERE a.id = ?1)
             RETURNING id`,
          ).bind(owner.id, name, join_rule, joinToken, now),
          c.env.DB.prepare(
            `INSERT INTO audit_log (network_id, actor_type, actor_id, action, at)
             SELECT id, 'account', ?1, 'network_created', ?3 FROM networks WHERE account_id = ?1 AND name = ?2 AND created_at = ?3`,
          ).bind(owner.id, name, now),
        ]);
        created = inserted?.results[0] ?? null;
      } catch (e) {
        if (violates(e, "networks.account_id, networks.name")) {
          throw new ApiError(409, "network_name_taken", `you already have a network named "${name}"; choose another name`);
        }
        if (violates(e, "networks_id_range")) {
          throw new ApiError(503, "address_space_exhausted", "every 16-bit network ID has been allocated; this registry cannot create networks");
        }
        throw e;
      }
      if (!created) {
        const usage = await planUsage(db, owner);
        throw new ApiError(403, "plan_limit", `the ${usage.plan} plan allows ${usage.max_networks} network(s); delete one or upgrade the plan`);
      }
      const net = await ownedNetwork(db, owner, created.id);
      return c.json(networkView(net.row, net.maxMembers, registryOrigin(c)), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/networks",
      tags: ["networks"],
      summary: "The account's networks and its plan usage",
      ...account,
      responses: { 200: json(NetworkList, "Networks, oldest first"), ...errors(401, 503) },
    }),
    async (c) => {
      const db = database(c.env);
      const usage = await planUsage(db, c.var.account);
      const rows = await db.select().from(networks).where(eq(networks.accountId, c.var.account.id)).orderBy(asc(networks.id));
      const origin = registryOrigin(c);
      return c.json({ networks: rows.map((r) => networkView(r, usage.max_members, origin)), plan: usage }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/networks/{id}",
      tags: ["networks"],
      summary: "One of the account's networks, with its join token and join URL",
      ...account,
      request: { params: NetworkParam },
      responses: { 200: json(Network, "The network"), ...errors(400, 401, 404, 503) },
    }),
    async (c) => {
      const net = await ownedNetwork(database(c.env), c.var.account, c.req.valid("param").id);
      return c.json(networkView(net.row, net.maxMembers, registryOrigin(c)), 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/networks/{id}",
      tags: ["networks"],
      summary: "Delete a network: every membership ends at once; nodes keep their registration and trust",
      ...account,
      request: { params: NetworkParam },
      responses: { 204: { description: "Deleted" }, ...errors(400, 401, 403, 404, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      unwrap(await networkHub(c.env, id).deleteNetwork(id, c.var.account.id));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/networks/{id}/token",
      tags: ["networks"],
      summary: "Rotate the join token; the old one stops working at once",
      ...account,
      request: { params: NetworkParam, body: jsonBody(RotateTokenRequest) },
      responses: { 200: json(Network, "The network with its new token"), ...errors(400, 401, 403, 404, 413, 415, 429, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { token } = c.req.valid("json");
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, c.var.account.id, "token rotations");
      const row = unwrap(await networkHub(c.env, id).rotateToken(id, c.var.account.id, token ?? generateJoinToken()));
      const net = await ownedNetwork(database(c.env), c.var.account, row.id);
      return c.json(networkView(net.row, net.maxMembers, registryOrigin(c)), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/networks/{id}/members",
      tags: ["networks"],
      summary: "Add a node by node ID, Pilot address or hostname",
      description:
        "A node the account owns (it registered with one of the account's enrollment keys) becomes a member at once. Any other name is invited: if such a node exists it can accept within 7 days. The answer is the same whether or not it exists. Invitations, their withdrawal and token rotations share a budget of 60 a minute per account.",
      ...account,
      request: { params: NetworkParam, body: jsonBody(AddMemberRequest) },
      responses: { 200: json(AddMemberResponse, "What happened"), ...errors(400, 401, 403, 404, 413, 415, 429, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const owner = c.var.account;
      const db = database(c.env);
      const net = await ownedNetwork(db, owner, id);
      const name = c.req.valid("json").node;
      const node = await findNode(db, name, id);
      const hub = networkHub(c.env, id);
      if (node && node.ownerAccountId === owner.id) {
        const { result } = unwrap(await hub.add(id, owner.id, node.id));
        return c.json({ result, node_id: node.id, address: formatAddress({ network: id, node: node.id }) }, 200);
      }
      // Counted for every name that is not the owner's own node, whether or not it exists.
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, owner.id, "invitations");
      const invited = await noSoonerThan(DISCREET_FLOOR_MS, async () => unwrap(await hub.invite(net.row.id, owner.id, node?.id ?? null, name)));
      if (invited.result === "already_member" && node) {
        return c.json({ result: invited.result, node_id: node.id, address: formatAddress({ network: id, node: node.id }) }, 200);
      }
      return c.json({ result: "invited" as const, expires_at: iso(invited.expiresAt) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/networks/{id}/invitations/{name}",
      tags: ["networks"],
      summary: "Withdraw an invitation, naming the node as when it was invited",
      description:
        "The invited node's daemon hears at once that the invitation is gone. The answer is the same whether or not such a node exists or was invited, so withdrawing never reveals whether a private node exists.",
      ...account,
      request: { params: NetworkParam.extend({ name: z.string().max(80).meta({ description: "Node ID, Pilot address or hostname" }) }) },
      responses: { 204: { description: "No open invitation for that name remains" }, ...errors(400, 401, 403, 404, 429, 503) },
    }),
    async (c) => {
      const { id, name } = c.req.valid("param");
      const db = database(c.env);
      await ownedNetwork(db, c.var.account, id);
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, c.var.account.id, "invitation changes");
      const node = await findNode(db, name, id);
      await noSoonerThan(DISCREET_FLOOR_MS, async () => unwrap(await networkHub(c.env, id).withdrawInvitation(id, c.var.account.id, node?.id ?? null, name)));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/networks/{id}/members/{node_id}",
      tags: ["networks"],
      summary: "Remove a member: its access ends before this answers",
      ...account,
      request: {
        params: NetworkParam.extend({ node_id: z.string().regex(/^[1-9][0-9]{0,9}$/, "must be a node ID").transform(Number) }),
      },
      responses: { 204: { description: "Removed" }, ...errors(400, 401, 403, 404, 503) },
    }),
    async (c) => {
      const { id, node_id } = c.req.valid("param");
      unwrap(await networkHub(c.env, id).remove(id, { type: "account", id: c.var.account.id }, node_id, "removed"));
      return c.body(null, 204);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/networks/{id}/members",
      tags: ["networks"],
      summary: "Members, for the owner and for members only",
      security: [...accountAuth, ...bearer],
      middleware: requireAccountOrNode,
      request: { params: NetworkParam, query: PageQuery },
      responses: { 200: json(MemberPage, "A page of members"), ...errors(400, 401, 404, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { cursor, limit = DEFAULT_PAGE } = c.req.valid("query");
      const db = database(c.env);
      const node = c.get("node") as NodeRow | undefined;
      const allowed = node
        ? await db.select({ one: memberships.nodeId }).from(memberships).where(and(eq(memberships.networkId, id), eq(memberships.nodeId, node.id))).get()
        : await db.select({ one: networks.id }).from(networks).where(and(eq(networks.id, id), eq(networks.accountId, c.var.account.id))).get();
      if (!allowed) throw new ApiError(404, "network_not_found", networkNotFound().message);
      const [rows, [network]] = await db.batch([
        db
          .select({ node: nodes, joinedAt: memberships.joinedAt })
          .from(memberships)
          .innerJoin(nodes, eq(nodes.id, memberships.nodeId))
          .where(and(eq(memberships.networkId, id), cursor === undefined ? undefined : gt(memberships.nodeId, Number(cursor))))
          .orderBy(asc(memberships.nodeId))
          .limit(limit + 1),
        db.select({ revision: networks.revision }).from(networks).where(eq(networks.id, id)),
      ]);
      const page = rows.slice(0, limit);
      const online = new Set(await networkHub(c.env, id).online(page.map((r) => r.node.id)));
      return c.json(
        {
          members: page.map((r) => memberView(id, r.node, r.joinedAt, online.has(r.node.id))),
          next_cursor: rows.length > limit ? String(page.at(-1)!.node.id) : null,
          revision: network?.revision ?? 0,
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/networks/{id}/audit",
      tags: ["networks"],
      summary: "The network's audit log, newest first",
      ...account,
      request: { params: NetworkParam, query: PageQuery },
      responses: { 200: json(AuditPage, "A page of entries"), ...errors(400, 401, 404, 503) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { cursor, limit = DEFAULT_PAGE } = c.req.valid("query");
      const db = database(c.env);
      await ownedNetwork(db, c.var.account, id);
      const rows = await db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.networkId, id), cursor === undefined ? undefined : lt(auditLog.id, Number(cursor))))
        .orderBy(desc(auditLog.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      return c.json(
        {
          entries: page.map(auditView),
          next_cursor: rows.length > limit ? String(page.at(-1)!.id) : null,
        },
        200,
      );
    },
  );

