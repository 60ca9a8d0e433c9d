import {
  HEARTBEAT_INTERVAL_SECONDS,
  HeartbeatRequest,
  HeartbeatResponse,
  OFFLINE_AFTER_SECONDS,
  RegisterRequest,
  RegisterResponse,
  RotateKeyRequest,
  RotateKeyResponse,
  SelfNode,
  UpdateSelfRequest,
} from "@pilot/protocol";
import { issueAccessToken } from "../auth/access-token.ts";
import { requireNode } from "../auth/node-auth.ts";
import { rotateKey } from "../nodes/key-rotation.ts";
import { deregisterNode, registerNode } from "../nodes/registration.ts";
import { reportHeartbeat, updateSelf } from "../nodes/self.ts";
import { selfView } from "../nodes/views.ts";
import { iso } from "../time.ts";
import { bearer, errors, json, jsonBody, apiRoute, open } from "../openapi.ts";
import { limitNodeAuth, limitPerNode } from "../rate-limit.ts";
import { registryOrigin } from "../origin.ts";
import { createRouter } from "../router.ts";

export const nodeRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/nodes",
      operationId: "registerNode",
      tags: ["nodes"],
      security: open,
      summary: "Register a node, proving possession of its identity key",
      description:
        "Registering a key that is already registered returns the same node (200). A deregistered key comes back with its old node ID. With an enrollment key, the key's account becomes the node's owner.",
      middleware: [limitNodeAuth] as const,
      request: { body: jsonBody(RegisterRequest) },
      responses: {
        201: json(RegisterResponse, "Registered a new node"),
        200: json(RegisterResponse, "The key was already registered: same node"),
        ...errors(401, 403, 422, 429, 503),
      },
    }),
    async (c) => {
      const { created, node } = await registerNode(c.env, c.var.log, registryOrigin(c), c.req.valid("json"));
      const token = await issueAccessToken(c.env, node.id, node.tokenEpoch);
      return c.json({ created, node: selfView(node), token }, created ? 201 : 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/nodes/self",
      operationId: "getSelf",
      tags: ["nodes"],
      summary: "The calling node",
      security: bearer,
      middleware: [requireNode] as const,
      responses: { 200: json(SelfNode, "The calling node") },
    }),
    (c) => c.json(selfView(c.var.node), 200),
  )
  .openapi(
    apiRoute({
      method: "patch",
      path: "/nodes/self",
      operationId: "updateSelf",
      tags: ["nodes"],
      summary: "Set or clear the hostname; make the node public or private",
      security: bearer,
      middleware: [requireNode] as const,
      request: { body: jsonBody(UpdateSelfRequest) },
      responses: { 200: json(SelfNode, "The updated node"), ...errors(409, 429) },
    }),
    async (c) => {
      const node = c.var.node;
      const countClaim = () => limitPerNode(c.env.HOSTNAME_LIMITER, node.id, "hostname claims");
      return c.json(selfView(await updateSelf(c.env, node, c.req.valid("json"), countClaim)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/nodes/self/heartbeat",
      operationId: "heartbeat",
      tags: ["nodes"],
      summary: "Report endpoints and capabilities and stay online",
      description: `Send every ${HEARTBEAT_INTERVAL_SECONDS} s; a node is offline ${OFFLINE_AFTER_SECONDS} s after its last heartbeat. A report that changes nothing writes nothing to D1.`,
      security: bearer,
      middleware: [requireNode] as const,
      request: { body: jsonBody(HeartbeatRequest) },
      responses: { 200: json(HeartbeatResponse, "Recorded") },
    }),
    async (c) => {
      const changed = await reportHeartbeat(c.env, c.var.node, c.req.valid("json"));
      return c.json(
        { changed, interval_seconds: HEARTBEAT_INTERVAL_SECONDS, offline_after_seconds: OFFLINE_AFTER_SECONDS },
        200,
      );
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/nodes/self/key",
      operationId: "rotateKey",
      tags: ["nodes"],
      summary: "Move the calling node to a new identity key",
      description:
        "The node keeps its node ID, address, hostname, memberships and trust. Get a challenge for the new key (POST /v1/auth/challenge), then sign the statement `pilot-key-rotation-v1\\n<registry origin>\\n<node ID>\\n<current key>\\n<new key>\\n<challenge>` with the new key (signature) and with the current one (previous_signature). Every access token issued before is revoked (the answer carries a new one), the node's channels and relay connection close, and the nodes that trust it or share a network with it get a key_rotated event on their channel. A node may rotate its key 5 times a minute.",
      security: bearer,
      middleware: [requireNode] as const,
      request: { body: jsonBody(RotateKeyRequest) },
      responses: { 200: json(RotateKeyResponse, "The node, now with the new key"), ...errors(409, 422, 429) },
    }),
    async (c) => {
      await limitPerNode(c.env.KEY_ROTATION_LIMITER, c.var.node.id, "key rotations");
      const { node, rotatedAt } = await rotateKey(c.env, c.var.log, registryOrigin(c), c.var.node, c.req.valid("json"));
      const token = await issueAccessToken(c.env, node.id, node.tokenEpoch);
      return c.json({ node: selfView(node), token, rotated_at: iso(rotatedAt) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/nodes/self",
      operationId: "deregisterSelf",
      tags: ["nodes"],
      summary: "Deregister the calling node",
      description:
        "Ends its memberships (members are told), revokes its access tokens, frees its hostname, and removes its trust pairs and invitations. The node ID stays reserved for its key.",
      security: bearer,
      middleware: [requireNode] as const,
      responses: { 204: { description: "Deregistered" } },
    }),
    async (c) => {
      await deregisterNode(c.env, c.var.log, c.var.node);
      return c.body(null, 204);
    },
  );
