/**
 * Tags and port policies as the API takes and gives them: the schemas of a network's policy, a
 * member's tags, the owner's check and what a push channel carries. The rules they check (the tag
 * pattern, the limits) and the evaluator are in policy.ts, which has no zod so the console can
 * carry it.
 */
import { z } from "zod";
import { NodeRefText } from "./api.ts";
import { MAX_PORT, MAX_RULE_PORTS, MAX_RULES, MAX_TAGS, POLICY_PROTOCOLS, TAG_PATTERN, TAG_RULE } from "./policy.ts";
import { beyondSchema, uniqueItems } from "./schema-rules.ts";

export const Tag = z.string().regex(TAG_PATTERN, `a tag must be ${TAG_RULE}`).meta({ example: "frontend" });
export type Tag = z.infer<typeof Tag>;

/** What a rule's `from` and `to` name: a tag, or `*` for any member of the network. */
export const TagSelector = z
  .union([z.literal("*"), Tag])
  .meta({ description: "A tag, or * for any member of the network (tagged or not)", example: "api" });

export const Port = z.number().int().min(1, "ports are 1-65535").max(MAX_PORT, "ports are 1-65535");

export const PortSpec = z
  .union([
    Port,
    z
      .tuple([Port, Port])
      .meta({ minItems: 2, maxItems: 2 })
      // Beyond JSON Schema, which cannot compare two items.
      .refine(([first, last]) => first <= last, { message: "a port range [first, last] needs first <= last", ...beyondSchema("invalid_request") }),
  ])
  .meta({ description: "A port, or an inclusive range [first, last]", example: [8000, 8999] });
export type PortSpec = z.infer<typeof PortSpec>;

export const TransportProtocol = z.enum(POLICY_PROTOCOLS).meta({ description: "stream: connections; datagram: datagrams" });
export type TransportProtocol = z.infer<typeof TransportProtocol>;

export const Rule = z
  .strictObject({
    from: TagSelector,
    to: TagSelector,
    ports: z.array(PortSpec).min(1, "a rule needs at least one port").max(MAX_RULE_PORTS, `at most ${MAX_RULE_PORTS} port entries per rule`),
    protocols: uniqueItems(z.array(TransportProtocol).min(1, "a rule needs at least one protocol"), "each protocol at most once"),
  })
  .meta({
    id: "Rule",
    description: "Members tagged `from` may reach members tagged `to` on these ports, with these protocols",
    example: { from: "frontend", to: "api", ports: [80, 443, [8000, 8999]], protocols: ["stream"] },
  });
export type Rule = z.infer<typeof Rule>;

/**
 * The rules of a policy. The count is checked after each rule, with its own code, so an owner
 * over the limit learns that rather than which rule happened to be malformed.
 */
const Rules = z
  .array(Rule)
  .superRefine((rules, ctx) => {
    if (rules.length > MAX_RULES) {
      ctx.addIssue({ code: "custom", message: `at most ${MAX_RULES} rules per network (got ${rules.length})`, params: { code: "policy_too_large" } });
    }
  })
  .meta({ maxItems: MAX_RULES });

export const PolicyRequest = z
  .strictObject({
    self_tagging: z.boolean().meta({ description: "Whether the tags members request for themselves (pilotctl set-tags) count in this network" }),
    rules: Rules.meta({ description: `At most ${MAX_RULES}; none means every member reaches every port of every other` }),
  })
  .meta({ id: "PolicyRequest" });
export type PolicyRequest = z.infer<typeof PolicyRequest>;

export const PolicyRevision = z.number().int().min(0).meta({ description: "Bumped by every change of the policy or of a member's tags" });

export const Policy = z
  .object({
    network_id: z.number().int(),
    self_tagging: z.boolean(),
    rules: z.array(Rule),
    revision: PolicyRevision,
  })
  .meta({ id: "Policy" });
export type Policy = z.infer<typeof Policy>;

/** A list of tags: each valid, none twice, at most the limit. */
export const TagList = uniqueItems(z.array(Tag).max(MAX_TAGS, `at most ${MAX_TAGS} tags`), "each tag at most once");

export const TagsRequest = z.strictObject({ tags: TagList }).meta({ id: "TagsRequest", description: "The whole list; empty clears it" });
export type TagsRequest = z.infer<typeof TagsRequest>;
export const TagsResponse = z.object({ tags: z.array(Tag) }).meta({ id: "TagsResponse" });
export type TagsResponse = z.infer<typeof TagsResponse>;

export const PolicyCheckRequest = z
  .strictObject({
    from: NodeRefText.meta({ description: "A member: node ID, Pilot address or hostname", example: "web-1" }),
    to: NodeRefText.meta({ description: "A member: node ID, Pilot address or hostname", example: "api-1" }),
    port: Port,
    protocol: TransportProtocol,
  })
  .meta({ id: "PolicyCheckRequest" });
export type PolicyCheckRequest = z.infer<typeof PolicyCheckRequest>;

export const PolicyVerdict = z
  .object({
    allowed: z.boolean(),
    rule: z.number().int().nullable().meta({ description: "Index in `rules` of the first rule that allows it" }),
    reason: z.enum(["no_policy", "rule", "no_rule"]).meta({ description: "no_policy: the network has no rules, so members reach all ports; rule: `rule` allows it; no_rule: no rule does" }),
  })
  .meta({ id: "PolicyVerdict" });

/** Each member's effective tags in a network, by node ID. */
export const MemberTags = z.record(z.string().regex(/^[1-9][0-9]{0,9}$/), z.array(Tag));
export type MemberTags = z.infer<typeof MemberTags>;

/** A network's policy as its push channel carries it: the rules, and every member's effective tags. */
export const PolicyState = z.object({
  revision: PolicyRevision,
  self_tagging: z.boolean(),
  rules: z.array(Rule),
  tags: MemberTags,
});
export type PolicyState = z.infer<typeof PolicyState>;

