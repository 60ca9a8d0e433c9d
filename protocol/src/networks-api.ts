/** Schemas of networks: creation, membership, joins, invitations, the audit log and the push channel. */
import { z } from "zod";
import { PlanLimits } from "./accounts-api.ts";
import { Address, Capability, Endpoint, HeldHostname, NodeId, NodeRefText, Timestamp } from "./api.ts";
import { HOSTNAME_PATTERN, HOSTNAME_RULE } from "./hostname.ts";
import { CustomJoinToken, JoinToken } from "./join-token.ts";
import { PolicyState, Tag } from "./policy-api.ts";
import { decimalRange, textOfLength } from "./schema-rules.ts";

export const NetworkId = z.number().int().min(1).max(0xffff).meta({ description: "16-bit network ID", example: 1 });

export const NetworkName = z
  .string()
  .max(63)
  .regex(HOSTNAME_PATTERN, `must be ${HOSTNAME_RULE}`)
  .meta({ example: "research-lab" });

export const JoinRule = z.enum(["invite", "token"]).meta({ description: "invite: only the owner adds nodes; token: anyone with the token joins" });

/** Only a token-gated network takes a token: one shape per join rule, so the document states it. */
export const CreateNetworkRequest = z
  .discriminatedUnion("join_rule", [
    z.strictObject({ name: NetworkName, join_rule: z.literal("invite").meta({ description: "Only the owner adds nodes" }) }),
    z.strictObject({
      name: NetworkName,
      join_rule: z.literal("token").meta({ description: "Anyone with the token joins" }),
      token: CustomJoinToken.optional(),
    }),
  ])
  .meta({ id: "CreateNetworkRequest" });
export type CreateNetworkRequest = z.infer<typeof CreateNetworkRequest>;

export const JoinInstructions = z
  .object({
    token: JoinToken,
    command: z.string().meta({ example: "pilotctl join-network 1 --token 3q2-…" }),
    daemon: z.string().meta({
      description: "Starts an agent's daemon against this registry, for an agent whose daemon is not running yet (on another machine, say)",
      example: "pilotctl daemon start --registry https://registry.example",
    }),
    url: z.url().meta({ description: "Join URL; the token rides in the fragment, which browsers never send to a server" }),
  })
  .meta({ id: "JoinInstructions" });

export const Network = z
  .object({
    network_id: NetworkId,
    name: NetworkName,
    join_rule: JoinRule,
    members: z.number().int(),
    max_members: z.number().int(),
    created_at: Timestamp,
    join: JoinInstructions.nullable().meta({ description: "For token-gated networks: how agents join" }),
  })
  .meta({ id: "Network" });
export type Network = z.infer<typeof Network>;

export const NetworkList = z.object({ networks: z.array(Network), plan: PlanLimits }).meta({ id: "NetworkList" });

export const RotateTokenRequest = z.strictObject({ token: CustomJoinToken.optional() }).meta({ id: "RotateTokenRequest" });

export const AddMemberRequest = z
  .strictObject({ node: NodeRefText })
  .meta({ id: "AddMemberRequest" });

export const AddMemberResponse = z
  .discriminatedUnion("result", [
    z.object({ result: z.literal("added"), node_id: NodeId, address: Address }),
    z.object({ result: z.literal("already_member"), node_id: NodeId, address: Address }),
    z.object({
      result: z.literal("invited"),
      expires_at: Timestamp.meta({ description: "If such a node exists, it can accept until then" }),
    }),
  ])
  .meta({
    id: "AddMemberResponse",
    description:
      "A node the account owns is added at once. Any other name gets `invited`, whether or not a node has it, so adding never reveals whether a private node exists.",
  });
export type AddMemberResponse = z.infer<typeof AddMemberResponse>;

export const Member = z
  .object({
    node_id: NodeId,
    address: Address,
    hostname: HeldHostname.nullable(),
    online: z.boolean().meta({ description: "Holds this network's push channel now" }),
    endpoint: Endpoint.nullable(),
    lan_addrs: z.array(Endpoint),
    capabilities: z.array(Capability),
    joined_at: Timestamp,
    tags: z.array(Tag).meta({ description: "The tags the network's owner gave this member here" }),
    requested_tags: z.array(Tag).meta({ description: "The tags the node asks for itself (pilotctl set-tags); they count only where the network allows self-tagging" }),
    effective_tags: z.array(Tag).meta({ description: "The tags the network's policy sees: `tags`, plus `requested_tags` if the network allows self-tagging" }),
    suspended: z
      .literal(true)
      .optional()
      .meta({ description: "Only in the owner's list: the registry's operator suspended this member, which grants nothing until restored; members' lists leave it out" }),
  })
  .meta({ id: "Member", description: "Shown only to the network's owner and its members" });
export type Member = z.infer<typeof Member>;

export const MemberPage = z
  .object({
    members: z.array(Member),
    next_cursor: z.string().nullable(),
    revision: z.number().int().meta({ description: "The network's membership revision when this page was read" }),
  })
  .meta({ id: "MemberPage", description: "Members in node ID order; pass next_cursor as ?cursor= for the next page" });
export type MemberPage = z.infer<typeof MemberPage>;

/** The most a page holds. */
export const MAX_PAGE = 500;

export const PageQuery = z.strictObject({
  cursor: z.string().regex(/^[0-9]{1,10}$/, "must be a cursor from a previous page").optional(),
  limit: z.string().regex(decimalRange(1, MAX_PAGE), `must be 1-${MAX_PAGE}`).transform(Number).optional(),
});

export const JoinRequest = z.strictObject({ token: textOfLength(1, 256) }).meta({ id: "JoinRequest" });

export const Joined = z
  .object({ network_id: NetworkId, address: Address, joined_at: Timestamp })
  .meta({ id: "Joined", description: "The node is a member now, with this address in the network" });
export type Joined = z.infer<typeof Joined>;

export const Membership = z
  .object({ network_id: NetworkId, name: NetworkName, address: Address, joined_at: Timestamp })
  .meta({ id: "Membership", description: "A network the calling node belongs to, and its address there" });
export type Membership = z.infer<typeof Membership>;

export const MembershipList = z.object({ networks: z.array(Membership) }).meta({ id: "MembershipList" });

export const Invitation = z
  .object({ network_id: NetworkId, name: NetworkName, invited_at: Timestamp, expires_at: Timestamp })
  .meta({ id: "Invitation" });
export type Invitation = z.infer<typeof Invitation>;

export const InvitationList = z.object({ invitations: z.array(Invitation) }).meta({ id: "InvitationList" });

export const AuditEntry = z
  .object({
    id: z.number().int(),
    actor: z.object({ type: z.enum(["account", "node"]), id: z.number().int() }),
    action: z.string(),
    target_node_id: NodeId.nullable(),
    target_name: z
      .string()
      .nullable()
      .meta({ description: "For invitations: the name as the owner typed it; for joins and join link changes: the link's label" }),
    at: Timestamp,
  })
  .meta({ id: "AuditEntry" });
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditPage = z
  .object({ entries: z.array(AuditEntry), next_cursor: z.string().nullable() })
  .meta({ id: "AuditPage", description: "Newest first" });
export type AuditPage = z.infer<typeof AuditPage>;

/** What a network's push channel sends, one JSON object per WebSocket message. */
export const PushEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    network_id: NetworkId,
    node_id: NodeId.meta({ description: "The node this channel belongs to" }),
    revision: z.number().int(),
    policy: PolicyState.meta({ description: "The network's port policy now, so a channel in sync always enforces the current one" }),
  }),
  z.object({ type: z.literal("member_added"), network_id: NetworkId, revision: z.number().int(), member: Member }),
  z.object({
    type: z.literal("member_removed"),
    network_id: NetworkId,
    revision: z.number().int(),
    node_id: NodeId,
    reason: z.enum(["removed", "left", "deregistered", "suspended"]).meta({
      description: "suspended: the registry's operator suspended the node; it stays a member and comes back with member_added when restored",
    }),
  }),
  z.object({ type: z.literal("member_updated"), network_id: NetworkId, member: Member }),
  z.object({ type: z.literal("network_deleted"), network_id: NetworkId }),
  PolicyState.extend({ type: z.literal("policy_updated"), network_id: NetworkId }).meta({
    description: "The policy or a member's tags changed: the whole policy, with every member's effective tags",
  }),
]);
export type PushEvent = z.infer<typeof PushEvent>;

/**
 * What the owner's live view of a network (never a member's channel) hears when a member's first
 * channel opens or its last one closes. Members are not told: announcing each channel to every other
 * one made n members connecting, as after every deployment, cost n²/2 messages in one object.
 * Members read online state from the member list.
 */
export const PresenceUpdate = z.object({ type: z.literal("presence"), network_id: NetworkId, node_id: NodeId, online: z.boolean() });
export type PresenceUpdate = z.infer<typeof PresenceUpdate>;
