/** Schemas of tags and port policies: the policy, member and node tags, and the owner's check. */
import { z } from "zod";
import { NetworkId } from "./networks-api.ts";
import { ANY_MEMBER, MAX_PORT, MAX_RULE_PORTS, MAX_RULES, MAX_TAGS, POLICY_PROTOCOLS, TAG_PATTERN, TAG_RULE, type PolicyRule } from "./policy.ts";

const unique = (values: readonly unknown[]) => new Set(values).size === values.length;

export const Tag = z.string().max(32).regex(TAG_PATTERN, `must be ${TAG_RULE}`).meta({ description: "A tag of a member in a network", example: "api" });

export const TagList = z
  .array(Tag)
  .max(MAX_TAGS, `at most ${MAX_TAGS} tags`)
  .refine(unique, "each tag once")
  .meta({ description: `Up to ${MAX_TAGS} tags`, example: ["frontend"] });

const RuleTag = z.union([Tag, z.literal(ANY_MEMBER)]).meta({ description: `A tag, or "${ANY_MEMBER}" for any member` });

export const Port = z.number().int().min(1).max(MAX_PORT).meta({ description: "A port, 1-65535", example: 443 });

const PortEntry = z
  .union([Port, z.tuple([Port, Port]).refine(([first, last]) => first <= last, "a range is [first, last] with first ≤ last")])
  .meta({ description: "A port, or an inclusive range [first, last]", example: [8000, 8999] });

const PolicyProtocol = z.enum(POLICY_PROTOCOLS);

export const Rule = z
  .strictObject({
    from: RuleTag.meta({ description: "The source member's tag" }),
    to: RuleTag.meta({ description: "The destination member's tag" }),
    ports: z.array(PortEntry).min(1, "at least one port").max(MAX_RULE_PORTS, `at most ${MAX_RULE_PORTS} ports or ranges`),
    protocols: z.array(PolicyProtocol).min(1, "at least one protocol").refine(unique, "each protocol once"),
  })
  .meta({ id: "PolicyRule", example: { from: "frontend", to: "api", ports: [80, 443, [8000, 8999]], protocols: ["stream"] } });
export type Rule = z.infer<typeof Rule>;
// The evaluator takes what this schema accepts.
Rule satisfies z.ZodType<PolicyRule>;

export const PolicyRequest = z
  .strictObject({
    self_tagging: z.boolean().meta({ description: "Whether nodes' own requested tags count in this network" }),
    rules: z.array(Rule).max(MAX_RULES, `at most ${MAX_RULES} rules`),
  })
  .meta({ id: "PolicyRequest", description: "Replaces the whole policy. No rules: members reach every port of each other." });
export type PolicyRequest = z.infer<typeof PolicyRequest>;

export const Policy = z
  .object({
    network_id: NetworkId,
    self_tagging: z.boolean(),
    rules: z.array(Rule),
    revision: z.number().int().meta({ description: "Grows with every change of the policy or of a member's tags" }),
  })
  .meta({ id: "Policy" });
export type Policy = z.infer<typeof Policy>;

export const MemberTagsRequest = z.strictObject({ tags: TagList }).meta({ id: "MemberTagsRequest", description: "The tags the owner assigns; empty clears them" });
export type MemberTagsRequest = z.infer<typeof MemberTagsRequest>;

export const NodeTags = z.strictObject({ tags: TagList }).meta({ id: "NodeTags", description: "A node's own requested tags; empty clears them" });
export type NodeTags = z.infer<typeof NodeTags>;

export const PolicyCheckRequest = z
  .strictObject({
    from: z.string().max(80).meta({ description: "Node ID, Pilot address or hostname of a member", example: "web-1" }),
    to: z.string().max(80).meta({ description: "Node ID, Pilot address or hostname of a member", example: "api-1" }),
    port: Port,
    protocol: PolicyProtocol,
  })
  .meta({ id: "PolicyCheckRequest" });
export type PolicyCheckRequest = z.infer<typeof PolicyCheckRequest>;

export const PolicyCheck = z
  .object({
    allowed: z.boolean(),
    rule: z.number().int().nullable().meta({ description: "Index in the policy's rules of the first rule that grants it" }),
    reason: z.enum(["no_policy", "rule", "no_rule"]),
  })
  .meta({ id: "PolicyCheck", description: "Whether the first member may open the port to the second through this network" });
export type PolicyCheck = z.infer<typeof PolicyCheck>;
