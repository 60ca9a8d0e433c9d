/** Bilateral trust: handshakes relayed through the registry, the trust list, and the node's own channel. */
import {
  ApproveRequest,
  HandshakeDecision,
  HandshakeReply,
  HandshakeRequest,
  NodeIdText,
  PendingList,
  RejectRequest,
  Revoked,
  TrustList,
} from "@pilot/protocol";
import type { Context } from "hono";
import { z } from "zod";
import { requireNode, type NodeEnv } from "../auth/node-auth.ts";
import { database } from "../db/client.ts";
import { parseTarget, requireWebSocket } from "../errors.ts";
import { afterAnswer, DISCREET_FLOOR_MS, noSoonerThan } from "../even-timing.ts";
import { deliverQuietly } from "../nodes/delivery.ts";
import { nodeHub } from "../nodes/hub.ts";
import { bearer, errors, json, jsonBody, apiRoute, webSocket } from "../openapi.ts";
import { limitPerNode } from "../rate-limit.ts";
import { regate } from "../relay/regate.ts";
import { createRouter } from "../router.ts";
import { isoOrNull } from "../time.ts";
import { approve, pendingFor, reject, requestHandshake } from "../trust/handshakes.ts";
import { checkTtl } from "../trust/expiry.ts";
import { revoke, sweepAt, trustedBy } from "../trust/pairs.ts";
import type { Relay } from "../trust/relay.ts";

const node = { security: bearer, middleware: requireNode };

/** Requests and revocations share a per-node budget, so neither can flood a peer's inbox. */
const limitHandshakes = (c: Context<NodeEnv>) => limitPerNode(c.env.HANDSHAKE_LIMITER, c.var.node.id, "handshake requests");
const PeerParam = z.object({ node_id: NodeIdText });
const relay = (c: Context<NodeEnv>): Relay => ({
  db: database(c.env),
  tellLater: (nodeId, event) => afterAnswer((p) => c.executionCtx.waitUntil(p), () => deliverQuietly(c.env, nodeId, event)),
  regate: (nodeId) => regate(c.env, [nodeId]),
  endsAt: (a, b, expiresAt) => {
    if (expiresAt !== null) c.executionCtx.waitUntil(sweepAt(c.env, a, b, expiresAt));
  },
});

export const trustRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/handshakes",
      operationId: "requestHandshake",
      tags: ["trust"],
      summary: "Ask another node for trust",
      description:
        "Crossing requests approve each other; a request between members of a shared network is approved at once. Otherwise the target sees it in its pending list and on its channel. The answer is the same whether or not a private target exists. Each node may send 30 requests a minute. With ttl_seconds the trust ends by itself (the shorter of the requester's and the approver's TTL); a TTL under the registry's minimum is 422 ttl_too_short.",
      ...node,
      request: { body: jsonBody(HandshakeRequest) },
      responses: { 200: json(HandshakeReply, "What happened"), ...errors(422, 429) },
    }),
    async (c) => {
      const { target, justification, ttl_seconds } = c.req.valid("json");
      const ref = parseTarget(target);
      checkTtl(c.env, ttl_seconds);
      await limitHandshakes(c);
      // "sent" must not say, by its timing either, whether a private target exists.
      return c.json(await noSoonerThan(DISCREET_FLOOR_MS, () => requestHandshake(relay(c), c.var.node, target, ref, justification, ttl_seconds)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/handshakes/pending",
      operationId: "listPendingHandshakes",
      tags: ["trust"],
      summary: "Handshake requests waiting for this node's decision",
      ...node,
      responses: { 200: json(PendingList, "Oldest first") },
    }),
    async (c) => c.json({ pending: await pendingFor(database(c.env), c.var.node) }, 200),
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/handshakes/{node_id}/approve",
      operationId: "approveHandshake",
      tags: ["trust"],
      summary: "Approve a pending request: trust on both sides",
      description:
        "The body is optional. With ttl_seconds the trust ends by itself after the shorter of that and the TTL the request asked for; without, it lasts as long as the request asked (or until revoked). A TTL under the registry's minimum is 422 ttl_too_short.",
      ...node,
      request: { params: PeerParam, body: { ...jsonBody(ApproveRequest), required: false } },
      responses: { 200: json(HandshakeDecision, "Approved, with when the trust ends"), ...errors(404, 422) },
    }),
    async (c) => {
      const { node_id } = c.req.valid("param");
      const { ttl_seconds } = c.req.valid("json");
      checkTtl(c.env, ttl_seconds);
      const expiresAt = await approve(relay(c), c.var.node, node_id, ttl_seconds);
      c.var.log.info("trust_approved", { node_id: c.var.node.id, peer: node_id, expires_at: expiresAt });
      return c.json({ status: "approved" as const, node_id, expires_at: isoOrNull(expiresAt) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/handshakes/{node_id}/reject",
      operationId: "rejectHandshake",
      tags: ["trust"],
      summary: "Reject a pending request, with a reason the requester receives",
      ...node,
      request: { params: PeerParam, body: jsonBody(RejectRequest) },
      responses: { 200: json(HandshakeDecision, "Rejected"), ...errors(404) },
    }),
    async (c) => {
      const { node_id } = c.req.valid("param");
      await reject(relay(c), c.var.node, node_id, c.req.valid("json").reason);
      return c.json({ status: "rejected" as const, node_id }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/trust",
      operationId: "listTrust",
      tags: ["trust"],
      summary: "The nodes this node trusts",
      ...node,
      responses: { 200: json(TrustList, "Trusted peers, oldest first") },
    }),
    async (c) => c.json({ trusted: await trustedBy(database(c.env), c.var.node) }, 200),
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/trust/{node_id}",
      operationId: "revokeTrust",
      tags: ["trust"],
      summary: "Revoke trust: the next resolve is denied; the peer is told, best effort",
      ...node,
      request: { params: PeerParam },
      responses: { 200: json(Revoked, "Revoked"), ...errors(404, 429) },
    }),
    async (c) => {
      const { node_id } = c.req.valid("param");
      await limitHandshakes(c);
      const revocation_id = await revoke(relay(c), c.var.node, node_id);
      c.var.log.info("trust_revoked", { node_id: c.var.node.id, peer: node_id, revocation_id });
      return c.json({ node_id, revocation_id }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/nodes/self/channel",
      operationId: "openNodeChannel",
      tags: ["trust"],
      summary: "The node's own channel (WebSocket): handshake requests, decisions and revocations",
      description:
        "Send `Upgrade: websocket` with the node's access token. Messages are NodeEvent JSON objects; acknowledge with {\"type\":\"ack\",\"seq\":n}. Unacknowledged events are sent again on the next connection. Closes with 4003 when the node deregisters.",
      ...node,
      parameters: webSocket.parameters,
      responses: webSocket.switching,
    }),
    async (c) => {
      requireWebSocket(c.req.header("upgrade"));
      return nodeHub(c.env, c.var.node.id).fetch(
        new Request(c.req.url, { headers: { upgrade: "websocket", "x-pilot-node": String(c.var.node.id) } }),
      );
    },
  );
