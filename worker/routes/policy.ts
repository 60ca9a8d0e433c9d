/** A network's port policy and its members' tags: the owner's routes, and a node's own requested tags. */
import { evaluate, Member, NodeIdText, Policy, PolicyCheckRequest, PolicyRequest, TagsRequest, TagsResponse, PolicyVerdict } from "@pilot/protocol";
import { requireAccount } from "../auth/account-auth.ts";
import { requireNode } from "../auth/node-auth.ts";
import { database } from "../db/client.ts";
import { ApiError } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { unwrap } from "../networks/outcome.ts";
import { policyView, setRequestedTags } from "../networks/policy.ts";
import { policyState } from "../networks/policy-state.ts";
import { isMember, nodeNamed } from "../networks/queries.ts";
import { accountAuth, bearer, errors, json, jsonBody, apiRoute } from "../openapi.ts";
import { limitPerNode } from "../rate-limit.ts";
import { createRouter } from "../router.ts";
import { NetworkParam, ownedOrNotFound } from "./networks.ts";

const account = { security: accountAuth, middleware: requireAccount };

const MemberParam = NetworkParam.extend({ node_id: NodeIdText });

const POLICY_DESCRIPTION =
  "With no rules, members reach every port of each other, by stream and datagram. With rules, a member reaches another (through this network) only on what some rule grants: the source carries tag `from`, the destination tag `to` (`*`: any member), the port is in `ports` and the protocol in `protocols`. Trust and a public destination still grant every port. Enforced by the destination's daemon, which holds the policy live.";

/** The member a person named for a policy check, or 404 `not_member`: the same answer whether the name is a node outside the network or no node at all. */
async function memberNamed(db: ReturnType<typeof database>, networkId: number, name: string): Promise<number> {
  const node = await nodeNamed(db, name, networkId);
  // Asked for a missing name too, so both take the same work.
  const member = await isMember(db, networkId, node?.id ?? 0);
  if (!node || !member) throw new ApiError(404, "not_member", `${name} is not a member of this network`);
  return node.id;
}

export const policyRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}/policy",
      operationId: "getPolicy",
      tags: ["policies"],
      summary: "The network's port policy",
      description: POLICY_DESCRIPTION,
      ...account,
      request: { params: NetworkParam },
      responses: { 200: json(Policy, "The policy"), ...errors(404) },
    }),
    async (c) => {
      const net = await ownedOrNotFound(database(c.env), c.var.account.id, c.req.valid("param").id);
      return c.json(policyView(net.row), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "put",
      path: "/networks/{id}/policy",
      operationId: "setPolicy",
      tags: ["policies"],
      summary: "Replace the network's port policy; members' daemons enforce it before this answers",
      description: `${POLICY_DESCRIPTION} More than 256 rules answer 400 \`policy_too_large\`; a rule may name a tag no member carries yet.`,
      ...account,
      request: { params: NetworkParam, body: jsonBody(PolicyRequest) },
      responses: { 200: json(Policy, "The policy now"), ...errors(404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(unwrap(await networkHub(c.env, id).setPolicy(id, c.var.account.id, c.req.valid("json"), c.var.requestId)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/networks/{id}/policy/check",
      operationId: "checkPolicy",
      tags: ["policies"],
      summary: "Whether the policy lets one member reach another on a port, and by which rule",
      description:
        "Answers for the network alone: trust between the two nodes, or a public destination, would grant every port regardless. A name that is not a member's answers 404 `not_member`, whether or not a node has it.",
      ...account,
      request: { params: NetworkParam, body: jsonBody(PolicyCheckRequest) },
      responses: { 200: json(PolicyVerdict, "The verdict"), ...errors(404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { from, to, port, protocol } = c.req.valid("json");
      const db = database(c.env);
      await ownedOrNotFound(db, c.var.account.id, id);
      const [source, destination] = [await memberNamed(db, id, from), await memberNamed(db, id, to)];
      const state = (await policyState(db, id))!;
      return c.json(evaluate(state, state.tags[source] ?? [], state.tags[destination] ?? [], port, protocol), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "put",
      path: "/networks/{id}/members/{node_id}/tags",
      operationId: "setMemberTags",
      tags: ["policies"],
      summary: "Set a member's tags in this network (the whole list; empty clears it)",
      description: "At most 16 tags, each 1-32 characters of a-z, 0-9 and -. Members' daemons enforce the new tags before this answers.",
      ...account,
      request: { params: MemberParam, body: jsonBody(TagsRequest) },
      responses: { 200: json(Member, "The member"), ...errors(404) },
    }),
    async (c) => {
      const { id, node_id } = c.req.valid("param");
      return c.json(unwrap(await networkHub(c.env, id).tagMember(id, c.var.account.id, node_id, c.req.valid("json").tags, c.var.requestId)), 200);
    },
  )
  .openapi(
    apiRoute({
      method: "put",
      path: "/nodes/self/tags",
      operationId: "setRequestedTags",
      tags: ["policies"],
      summary: "Set the tags this node requests for itself (empty clears them)",
      description:
        "They count only in networks whose owner allows self-tagging, where they join the tags the owner gave the node; elsewhere the owner sees them and may copy them. 10 changes a minute per node.",
      security: bearer,
      middleware: [requireNode] as const,
      request: { body: jsonBody(TagsRequest) },
      responses: { 200: json(TagsResponse, "The node's requested tags now"), ...errors(429) },
    }),
    async (c) => {
      await limitPerNode(c.env.TAG_LIMITER, c.var.node.id, "tag changes");
      return c.json({ tags: await setRequestedTags(c.env, database(c.env), c.var.node.id, c.req.valid("json").tags) }, 200);
    },
  );
