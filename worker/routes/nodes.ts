import { createRoute } from "@hono/zod-openapi";
import { and, eq, exists, isNotNull, isNull, or, sql } from "drizzle-orm";
import {
  HEARTBEAT_INTERVAL_SECONDS,
  HeartbeatRequest,
  HeartbeatResponse,
  isReservedHostname,
  OFFLINE_AFTER_SECONDS,
  RegisterRequest,
  RegisterResponse,
  SelfNode,
  UpdateSelfRequest,
} from "@pilot/protocol";
import { issueAccessToken } from "../auth/access-token.ts";
import { requireNode, revoked } from "../auth/node-auth.ts";
import { verifyProof } from "../auth/proof.ts";
import { checkEnrollmentKey, redeemEnrollmentKey } from "../accounts/enrollment.ts";
import { database, type Database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { handshakeRequests, invitations, memberships, nodes, trustPairs, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { deliverToEach } from "../nodes/delivery.ts";
import { networkHub } from "../networks/hub.ts";
import { nodeHub } from "../nodes/hub.ts";
import { selfView } from "../node-view.ts";
import { bearer, errors, json, jsonBody } from "../openapi.ts";
import { limitNodeAuth, limitPerNode } from "../rate-limit.ts";
import { registryOrigin } from "../origin.ts";
import { createRouter } from "../router.ts";

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

async function networksOf(env: Env, nodeId: number): Promise<number[]> {
  const rows = await database(env).select({ id: memberships.networkId }).from(memberships).where(eq(memberships.nodeId, nodeId));
  return rows.map((r) => r.id);
}

async function leaveAllNetworks(env: Env, nodeId: number): Promise<void> {
  for (const networkId of await networksOf(env, nodeId)) {
    // A network deleted meanwhile has already let the node go.
    await networkHub(env, networkId).remove(networkId, { type: "node", id: nodeId }, nodeId, "deregistered");
  }
}

/** Whether the node is deregistered now; guards cleanup that must not touch a re-registered node. */
const isDeregistered = (db: Database, id: number) =>
  exists(db.select({ one: sql`1` }).from(nodes).where(and(eq(nodes.id, id), isNotNull(nodes.deregisteredAt))));

/**
 * The node as the token saw it: still registered, same epoch. Every write is conditioned on this,
 * so a request whose token was revoked while it was in flight changes nothing.
 */
const current = (node: NodeRow) => and(eq(nodes.id, node.id), eq(nodes.tokenEpoch, node.tokenEpoch), isNull(nodes.deregisteredAt));

export const nodeRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/nodes",
      tags: ["nodes"],
      summary: "Register a node, proving possession of its identity key",
      description:
        "Registering a key that is already registered returns the same node (200). A deregistered key comes back with its old node ID. With an enrollment key, the key's account becomes the node's owner.",
      middleware: [limitNodeAuth] as const,
      request: { body: jsonBody(RegisterRequest) },
      responses: {
        201: json(RegisterResponse, "Registered a new node"),
        200: json(RegisterResponse, "The key was already registered: same node"),
        ...errors(400, 401, 403, 413, 415, 429, 503),
      },
    }),
    async (c) => {
      const { enrollment_key, ...proof } = c.req.valid("json");
      const db = database(c.env);
      const byKey = eq(nodes.publicKey, proof.public_key);
      let row = await db.query.nodes.findFirst({ where: byKey });
      const enrollment = enrollment_key ? await checkEnrollmentKey(db, enrollment_key, row) : undefined;
      await verifyProof(db, "register", registryOrigin(c), proof);
      const owner = enrollment?.spend ? await redeemEnrollmentKey(db, enrollment_key!) : undefined;
      let created = false;
      if (!row) {
        try {
          row = await db
            .insert(nodes)
            .values({ publicKey: proof.public_key, ownerAccountId: owner, registeredAt: Date.now() })
            .onConflictDoNothing({ target: nodes.publicKey })
            .returning()
            .get();
        } catch (e) {
          if (violates(e, "nodes_id_range")) {
            throw new ApiError(503, "address_space_exhausted", "every 32-bit node ID has been allocated; this registry cannot take new nodes");
          }
          throw e;
        }
        created = row !== undefined;
        // Lost a race with a concurrent registration of the same key: that one created the node.
        row ??= await db.query.nodes.findFirst({ where: byKey });
      } else if (row.deregisteredAt !== null || (owner !== undefined && owner !== row.ownerAccountId)) {
        // A deregistration that failed half-way may have left memberships; they must not come back.
        if (row.deregisteredAt !== null) await leaveAllNetworks(c.env, row.id);
        row = await db.update(nodes).set({ deregisteredAt: null, ownerAccountId: owner }).where(byKey).returning().get();
      }
      if (!row) throw new Error("registered key vanished");
      const token = await issueAccessToken(c.env, row.id, row.tokenEpoch);
      return c.json({ created, node: selfView(row), token }, created ? 201 : 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/nodes/self",
      tags: ["nodes"],
      summary: "The calling node",
      security: bearer,
      middleware: [requireNode] as const,
      responses: { 200: json(SelfNode, "The calling node"), ...errors(401, 503) },
    }),
    (c) => c.json(selfView(c.var.node), 200),
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/nodes/self",
      tags: ["nodes"],
      summary: "Set or clear the hostname; make the node public or private",
      security: bearer,
      middleware: [requireNode] as const,
      request: { body: jsonBody(UpdateSelfRequest) },
      responses: { 200: json(SelfNode, "The updated node"), ...errors(400, 401, 409, 413, 415, 429, 503) },
    }),
    async (c) => {
      const update = c.req.valid("json");
      if (update.hostname && isReservedHostname(update.hostname)) {
        throw new ApiError(400, "hostname_reserved", `"${update.hostname}" is reserved; choose another hostname`);
      }
      // A taken name answers 409: claims are counted so that answer cannot list the private names.
      if (update.hostname) await limitPerNode(c.env.HOSTNAME_LIMITER, c.var.node.id, "hostname claims");
      let row: NodeRow | undefined;
      try {
        row = await database(c.env)
          .update(nodes)
          .set({ hostname: update.hostname, public: update.public })
          .where(current(c.var.node))
          .returning()
          .get();
      } catch (e) {
        if (violates(e, "nodes.hostname")) {
          throw new ApiError(409, "hostname_taken", `the hostname "${update.hostname}" belongs to another node; choose another`);
        }
        throw e;
      }
      if (!row) throw revoked();
      return c.json(selfView(row), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/nodes/self/heartbeat",
      tags: ["nodes"],
      summary: "Report endpoints and capabilities and stay online",
      description: `Send every ${HEARTBEAT_INTERVAL_SECONDS} s; a node is offline ${OFFLINE_AFTER_SECONDS} s after its last heartbeat. A report that changes nothing writes nothing to D1.`,
      security: bearer,
      middleware: [requireNode] as const,
      request: { body: jsonBody(HeartbeatRequest) },
      responses: { 200: json(HeartbeatResponse, "Recorded"), ...errors(400, 401, 413, 415, 503) },
    }),
    async (c) => {
      const report = c.req.valid("json");
      const node = c.var.node;
      const changes: Partial<Pick<NodeRow, "endpoint" | "lanAddrs" | "capabilities">> = {};
      if (report.endpoint !== undefined && report.endpoint !== node.endpoint) changes.endpoint = report.endpoint;
      if (report.lan_addrs && !sameList(report.lan_addrs, node.lanAddrs)) changes.lanAddrs = report.lan_addrs;
      if (report.capabilities && !sameList(report.capabilities, node.capabilities)) changes.capabilities = report.capabilities;
      const changed = Object.keys(changes).length > 0;
      if (changed) {
        const row = await database(c.env)
          .update(nodes)
          .set(changes)
          .where(current(node))
          .returning({ id: nodes.id })
          .get();
        if (!row) throw revoked();
        await Promise.all((await networksOf(c.env, node.id)).map((n) => networkHub(c.env, n).memberUpdated(n, node.id)));
      }
      await nodeHub(c.env, node.id).heartbeat(node.tokenEpoch);
      return c.json(
        { changed, interval_seconds: HEARTBEAT_INTERVAL_SECONDS, offline_after_seconds: OFFLINE_AFTER_SECONDS },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/nodes/self",
      tags: ["nodes"],
      summary: "Deregister the calling node",
      description:
        "Ends its memberships (members are told), revokes its access tokens, frees its hostname, and removes its trust pairs and invitations. The node ID stays reserved for its key.",
      security: bearer,
      middleware: [requireNode] as const,
      responses: { 204: { description: "Deregistered" }, ...errors(401, 503) },
    }),
    async (c) => {
      const id = c.var.node.id;
      const db = database(c.env);
      const [updated, ended] = await db.batch([
        db
          .update(nodes)
          .set({
            deregisteredAt: Date.now(),
            ownerAccountId: null,
            hostname: null,
            public: false,
            endpoint: null,
            lanAddrs: [],
            capabilities: [],
            tokenEpoch: sql`${nodes.tokenEpoch} + 1`,
          })
          .where(current(c.var.node))
          .returning({ id: nodes.id }),
        db
          .delete(trustPairs)
          .where(and(or(eq(trustPairs.nodeA, id), eq(trustPairs.nodeB, id)), isDeregistered(db, id)))
          .returning({ nodeA: trustPairs.nodeA, nodeB: trustPairs.nodeB }),
        db.delete(invitations).where(and(eq(invitations.nodeId, id), isDeregistered(db, id))),
        db
          .delete(handshakeRequests)
          .where(and(or(eq(handshakeRequests.fromNode, id), eq(handshakeRequests.toNode, id)), isDeregistered(db, id))),
      ]);
      if (updated.length === 0) throw revoked();
      // Every peer it trusted, by hand or through a network, hears that the trust is gone.
      await deliverToEach(c.env, ended.map((p) => ({ nodeId: p.nodeA === id ? p.nodeB : p.nodeA, event: { type: "trust_revoked", node_id: id } })));
      // Now that no join can land (they are conditioned on the node being registered), memberships
      // end through each network's object, so members hear of it and sockets close.
      await leaveAllNetworks(c.env, id);
      await nodeHub(c.env, id).clear();
      return c.body(null, 204);
    },
  );
