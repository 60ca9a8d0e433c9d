/** The owner's join links of a token-gated network: list, create, revoke. */
import { CreateJoinLinkRequest, JoinLinkList, MAX_LIVE_JOIN_LINKS, NetworkJoinLink } from "@pilot/protocol";
import { z } from "zod";
import { requireAccount } from "../auth/account-auth.ts";
import { database } from "../db/client.ts";
import { networkHub } from "../networks/hub.ts";
import { linkList } from "../networks/join-links.ts";
import { generateJoinToken } from "../networks/join-token.ts";
import { unwrap } from "../networks/outcome.ts";
import { joinLinkView } from "../networks/views.ts";
import { accountAuth, errors, json, jsonBody, apiRoute } from "../openapi.ts";
import { registryOrigin } from "../origin.ts";
import { limitPerAccount } from "../rate-limit.ts";
import { createRouter } from "../router.ts";
import { NetworkParam, ownedOrNotFound } from "./networks.ts";

const account = { security: accountAuth, middleware: requireAccount };

export const joinLinkRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}/links",
      operationId: "listJoinLinks",
      tags: ["networks"],
      summary: "The network's join links, live and ended, with the uses each has left",
      ...account,
      request: { params: NetworkParam },
      responses: { 200: json(JoinLinkList, "The links, newest first: every live one and the 100 newest that ended"), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const db = database(c.env);
      await ownedOrNotFound(db, c.var.account.id, id);
      const origin = registryOrigin(c);
      const now = Date.now();
      const links = await linkList(db, id, now);
      return c.json({ links: links.map((l) => joinLinkView(l, origin, now)), max_live: MAX_LIVE_JOIN_LINKS }, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks/{id}/links",
      operationId: "createJoinLink",
      tags: ["networks"],
      summary: "Create a join link: a token that may expire and may be limited to a number of joins",
      description: `A network holds at most ${MAX_LIVE_JOIN_LINKS} live links (409 join_link_limit). A link whose expiry passed, whose uses ran out or that was revoked answers a join exactly like a wrong token. Without a token, one of 192 random bits is made.`,
      ...account,
      request: { params: NetworkParam, body: jsonBody(CreateJoinLinkRequest) },
      responses: { 201: json(NetworkJoinLink, "The new link"), ...errors(404, 409, 422, 429) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const request = c.req.valid("json");
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, c.var.account.id, "join link changes");
      const link = unwrap(await networkHub(c.env, id).createLink(id, c.var.account.id, request, request.token ?? generateJoinToken(), c.var.requestId));
      return c.json(joinLinkView(link, registryOrigin(c), Date.now()), 201);
    },
  )
  .openapi(
    apiRoute({
      method: "delete",
      path: "/networks/{id}/links/{link_id}",
      operationId: "revokeJoinLink",
      tags: ["networks"],
      summary: "Revoke one join link; it stops joining at once, and the network's other links keep working",
      ...account,
      request: { params: NetworkParam.extend({ link_id: z.string().regex(/^[1-9][0-9]{0,9}$/, "must be a join link ID").transform(Number) }) },
      responses: { 204: { description: "Revoked (or it already was)" }, ...errors(404, 429) },
    }),
    async (c) => {
      const { id, link_id } = c.req.valid("param");
      await limitPerAccount(c.env.OWNER_CHANGE_LIMITER, c.var.account.id, "join link changes");
      unwrap(await networkHub(c.env, id).revokeLink(id, c.var.account.id, link_id, c.var.requestId));
      return c.body(null, 204);
    },
  );
