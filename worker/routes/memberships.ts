/** What a node does with networks: join by token, leave, invitations, its memberships, push channels. */
import { formatAddress, InvitationList, Joined, JoinRequest, MembershipList } from "@pilot/protocol";
import { requireNode } from "../auth/node-auth.ts";
import { database } from "../db/client.ts";
import { ApiError, requireWebSocket } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { unwrap } from "../networks/outcome.ts";
import { membershipsOf, openInvitationsOf } from "../networks/queries.ts";
import { limitPerNode } from "../rate-limit.ts";
import { bearer, errors, json, jsonBody, apiRoute, webSocket } from "../openapi.ts";
import { createRouter } from "../router.ts";
import { NetworkParam } from "./networks.ts";
import { iso } from "../time.ts";
import { REQUEST_ID_HEADER } from "../observability/request-context.ts";

const node = { security: bearer, middleware: requireNode };

export const membershipRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks/{id}/join",
      operationId: "joinNetwork",
      tags: ["membership"],
      summary: "Join a token-gated network",
      description:
        "A wrong token, an invite-only network and a network that does not exist get the same 403. Each node may try 10 times a minute, and each network refuses token joins for the rest of a minute after 20 wrong tokens.",
      ...node,
      request: { params: NetworkParam, body: jsonBody(JoinRequest) },
      responses: { 200: json(Joined, "A member now (or already)"), ...errors(403, 404, 429) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const me = c.var.node;
      await limitPerNode(c.env.JOIN_LIMITER, me.id, "join attempts");
      const { joinedAt } = unwrap(await networkHub(c.env, id).join(id, me.id, c.req.valid("json").token, c.var.requestId));
      return c.json({ network_id: id, address: formatAddress({ network: id, node: me.id }), joined_at: iso(joinedAt) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks/{id}/leave",
      operationId: "leaveNetwork",
      tags: ["membership"],
      summary: "Leave a network",
      ...node,
      request: { params: NetworkParam },
      responses: { 204: { description: "Left" }, ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      unwrap(await networkHub(c.env, id).remove(id, { type: "node", id: c.var.node.id }, c.var.node.id, "left", c.var.requestId));
      return c.body(null, 204);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}/channel",
      operationId: "openNetworkChannel",
      tags: ["membership"],
      summary: "The network's push channel (WebSocket)",
      description:
        "Send `Upgrade: websocket` with the node's access token. Messages are PushEvent JSON objects: hello (with the network's port policy), member_added, member_removed, member_updated, network_deleted, policy_updated (who is online is in the member list). The socket closes with 4001 when the node is removed and 4002 when the network is deleted. Send `ping` to get `pong`.",
      ...node,
      request: { params: NetworkParam },
      parameters: webSocket.parameters,
      responses: { ...webSocket.switching, ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      requireWebSocket(c.req.header("upgrade"));
      // A fresh request, so only the Worker names the node to the network's object.
      const res = await networkHub(c.env, id).fetch(
        new Request(c.req.url, {
          headers: { upgrade: "websocket", "x-pilot-network": String(id), "x-pilot-node": String(c.var.node.id), [REQUEST_ID_HEADER]: c.var.requestId },
        }),
      );
      if (res.status !== 101) throw new ApiError(404, "network_not_found", "no such network, or this node is not a member");
      return res;
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/nodes/self/networks",
      operationId: "listMemberships",
      tags: ["membership"],
      summary: "The networks the calling node belongs to",
      ...node,
      responses: { 200: json(MembershipList, "Memberships") },
    }),
    async (c) => {
      const rows = await membershipsOf(database(c.env), c.var.node.id);
      return c.json(
        {
          networks: rows.map((r) => ({
            network_id: r.id,
            name: r.name,
            address: formatAddress({ network: r.id, node: c.var.node.id }),
            joined_at: iso(r.joinedAt),
          })),
        },
        200,
      );
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/invitations",
      operationId: "listInvitations",
      tags: ["membership"],
      summary: "Open invitations to the calling node",
      ...node,
      responses: { 200: json(InvitationList, "Invitations") },
    }),
    async (c) => {
      const rows = await openInvitationsOf(database(c.env), c.var.node.id);
      return c.json(
        { invitations: rows.map((r) => ({ network_id: r.id, name: r.name, invited_at: iso(r.createdAt), expires_at: iso(r.expiresAt) })) },
        200,
      );
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/invitations/{id}/accept",
      operationId: "acceptInvitation",
      tags: ["membership"],
      summary: "Accept an invitation: the node becomes a member",
      ...node,
      request: { params: NetworkParam },
      responses: { 200: json(Joined, "A member now"), ...errors(403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { joinedAt } = unwrap(await networkHub(c.env, id).acceptInvitation(id, c.var.node.id, c.var.requestId));
      return c.json({ network_id: id, address: formatAddress({ network: id, node: c.var.node.id }), joined_at: iso(joinedAt) }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/invitations/{id}/decline",
      operationId: "declineInvitation",
      tags: ["membership"],
      summary: "Decline an invitation",
      ...node,
      request: { params: NetworkParam },
      responses: { 204: { description: "Declined" }, ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      unwrap(await networkHub(c.env, id).declineInvitation(id, c.var.node.id, c.var.requestId));
      return c.body(null, 204);
    },
  );
