/**
 * Tags and port policies: the schemas of a network's policy and the one evaluator that decides
 * whether it lets a member reach another on a port. The registry's policy check, the daemon's
 * enforcement at connection accept and datagram delivery, and `pilotctl why` all call `evaluate`,
 * so they can never disagree about what a policy means.
 */
import { z } from "zod";

/** Limits, each with the error code a request over it gets. */
export const POLICY_LIMITS = {
  /** Rules per network (`policy_too_large`). */
  rules: 256,
  /** Port entries per rule (`invalid_request`). */
  portsPerRule: 64,
  /** Tags per member per network, and requested tags per node (`invalid_request`). */
  tagsPerMember: 16,
} as const;

export const TAG_PATTERN = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
export const TAG_RULE = "1-32 characters of a-z, 0-9 and -, not starting or ending with -";

export const Tag = z.string().regex(TAG_PATTERN, `a tag must be ${TAG_RULE}`).meta({ example: "frontend" });
export type Tag = z.infer<typeof Tag>;

/** What a rule's `from` and `to` name: a tag, or `*` for any member of the network. */
export const TagSelector = z
  .union([z.literal("*"), Tag])
  .meta({ description: "A tag, or * for any member of the network (tagged or not)", example: "api" });

export const Port = z.number().int().min(1, "ports are 1-65535").max(65535, "ports are 1-65535");

export const PortSpec = z
  .union([
    Port,
    z
      .tuple([Port, Port])
      .refine(([first, last]) => first <= last, "a port range [first, last] needs first <= last"),
  ])
  .meta({ description: "A port, or an inclusive range [first, last]", example: [8000, 8999] });
export type PortSpec = z.infer<typeof PortSpec>;

export const TransportProtocol = z.enum(["stream", "datagram"]).meta({ description: "stream: connections; datagram: datagrams" });
export type TransportProtocol = z.infer<typeof TransportProtocol>;

const unique = <T>(items: readonly T[]) => new Set(items).size === items.length;

export const Rule = z
  .strictObject({
    from: TagSelector,
    to: TagSelector,
    ports: z.array(PortSpec).min(1, "a rule needs at least one port").max(POLICY_LIMITS.portsPerRule, `at most ${POLICY_LIMITS.portsPerRule} port entries per rule`),
    protocols: z
      .array(TransportProtocol)
      .min(1, "a rule needs at least one protocol")
      .refine(unique, "each protocol at most once"),
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
const Rules = z.array(Rule).superRefine((rules, ctx) => {
  if (rules.length > POLICY_LIMITS.rules) {
    ctx.addIssue({ code: "custom", message: `at most ${POLICY_LIMITS.rules} rules per network (got ${rules.length})`, params: { code: "policy_too_large" } });
  }
});

export const PolicyRequest = z
  .strictObject({
    self_tagging: z.boolean().meta({ description: "Whether the tags members request for themselves (pilotctl set-tags) count in this network" }),
    rules: Rules.meta({ description: `At most ${POLICY_LIMITS.rules}; none means every member reaches every port of every other` }),
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
export const TagList = z
  .array(Tag)
  .max(POLICY_LIMITS.tagsPerMember, `at most ${POLICY_LIMITS.tagsPerMember} tags`)
  .refine(unique, "each tag at most once");

export const TagsRequest = z.strictObject({ tags: TagList }).meta({ id: "TagsRequest", description: "The whole list; empty clears it" });
export const TagsResponse = z.object({ tags: z.array(Tag) }).meta({ id: "TagsResponse" });
export type TagsResponse = z.infer<typeof TagsResponse>;

export const PolicyCheckRequest = z
  .strictObject({
    from: z.string().max(80).meta({ description: "A member: node ID, Pilot address or hostname", example: "web-1" }),
    to: z.string().max(80).meta({ description: "A member: node ID, Pilot address or hostname", example: "api-1" }),
    port: Port,
    protocol: TransportProtocol,
  })
  .meta({ id: "PolicyCheckRequest" });

export const Verdict = z
  .object({
    allowed: z.boolean(),
    rule: z.number().int().nullable().meta({ description: "Index in `rules` of the first rule that allows it" }),
    reason: z.enum(["no_policy", "rule", "no_rule"]).meta({ description: "no_policy: the network has no rules, so members reach all ports; rule: `rule` allows it; no_rule: no rule does" }),
  })
  .meta({ id: "PolicyVerdict" });
export type Verdict = z.infer<typeof Verdict>;

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

/** A member's tags in a network: those its owner gave it, and its own requests where the network lets them count. */
export function effectiveTags(assigned: readonly string[], requested: readonly string[], selfTagging: boolean): string[] {
  return [...new Set(selfTagging ? [...assigned, ...requested] : assigned)].sort();
}

const portMatches = (spec: PortSpec, port: number) => (typeof spec === "number" ? spec === port : spec[0] <= port && port <= spec[1]);
const selects = (selector: string, tags: readonly string[]) => selector === "*" || tags.includes(selector);

/**
 * Whether a member with `fromTags` may reach a member with `toTags` on `port` by `protocol`, in a
 * network whose policy this is: with no rules, always (the network predates policies or never
 * wanted any); otherwise only if a rule grants it, and the first such rule is named.
 */
export function evaluate(
  policy: { readonly rules: readonly Rule[] } | undefined,
  fromTags: readonly string[],
  toTags: readonly string[],
  port: number,
  protocol: TransportProtocol,
): Verdict {
  if (!policy || policy.rules.length === 0) return { allowed: true, rule: null, reason: "no_policy" };
  const index = policy.rules.findIndex(
    (r) => r.protocols.includes(protocol) && selects(r.from, fromTags) && selects(r.to, toTags) && r.ports.some((p) => portMatches(p, port)),
  );
  return index === -1 ? { allowed: false, rule: null, reason: "no_rule" } : { allowed: true, rule: index, reason: "rule" };
}
