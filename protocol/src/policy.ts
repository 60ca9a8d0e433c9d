/**
 * Tags and port policies without schemas: the tag rule, the limits, a member's effective tags and
 * the evaluator. The registry's check route, the daemons' enforcement and the console's preview
 * all decide with `evaluate`, so what the console shows before saving is what will be enforced.
 * This module imports no zod (only types), so the console's script can carry it.
 */

/**
 * 1-32 lowercase letters, digits or hyphens, not starting or ending with a hyphen. The hyphen is
 * escaped so that the source also works as an HTML `pattern` attribute (see HOSTNAME_PATTERN).
 */
// oxlint-disable-next-line no-useless-escape -- needed under the v flag, as said above
export const TAG_PATTERN = /^[a-z0-9]([a-z0-9\-]{0,30}[a-z0-9])?$/;
export const TAG_RULE = "1-32 lowercase letters, digits or hyphens, not starting or ending with a hyphen";
/** In a rule's `from` or `to`: any member of the network. */
export const ANY_MEMBER = "*";

export const MAX_TAGS = 16;
export const MAX_RULES = 256;
export const MAX_RULE_PORTS = 64;
export const MAX_PORT = 65535;
export const POLICY_PROTOCOLS = ["stream", "datagram"] as const;
export type PolicyProtocol = (typeof POLICY_PROTOCOLS)[number];

/** What the evaluator reads of a rule; the `Rule` schema (policy-api.ts) is what the registry accepts. */
export interface PolicyRule {
  readonly from: string;
  readonly to: string;
  readonly ports: readonly (number | readonly [number, number])[];
  readonly protocols: readonly PolicyProtocol[];
}

export interface Verdict {
  allowed: boolean;
  /** The index in `rules` of the first rule that grants it, when one does. */
  rule: number | null;
  /** no_policy: the network has no rules, so members reach every port; rule: a rule grants it; no_rule: none does. */
  reason: "no_policy" | "rule" | "no_rule";
}

/** A rule's port entry as an inclusive range. */
export const portRange = (entry: PolicyRule["ports"][number]): readonly [number, number] => (typeof entry === "number" ? [entry, entry] : entry);

const hasTag = (ruleTag: string, tags: readonly string[]) => ruleTag === ANY_MEMBER || tags.includes(ruleTag);

/** Whether a rule grants this source-to-destination traffic. */
export function ruleGrants(rule: PolicyRule, fromTags: readonly string[], toTags: readonly string[], port: number, protocol: PolicyProtocol): boolean {
  return (
    hasTag(rule.from, fromTags) &&
    hasTag(rule.to, toTags) &&
    rule.protocols.includes(protocol) &&
    rule.ports.some((entry) => {
      const [first, last] = portRange(entry);
      return port >= first && port <= last;
    })
  );
}

/**
 * Whether a member with `fromTags` may open `port` over `protocol` to a member with `toTags`,
 * through one network whose policy this is. No rules: everything, as networks always allowed.
 * Otherwise the union of the rules; the answer names the first rule that grants it.
 */
export function evaluate(
  policy: { readonly rules: readonly PolicyRule[] } | undefined,
  fromTags: readonly string[],
  toTags: readonly string[],
  port: number,
  protocol: PolicyProtocol,
): Verdict {
  if (!policy || policy.rules.length === 0) return { allowed: true, rule: null, reason: "no_policy" };
  const rule = policy.rules.findIndex((r) => ruleGrants(r, fromTags, toTags, port, protocol));
  return rule === -1 ? { allowed: false, rule: null, reason: "no_rule" } : { allowed: true, rule, reason: "rule" };
}

/**
 * A member's effective tags in a network: those its owner assigned there, and the node's own
 * requested tags only where the network lets nodes tag themselves (a node that could tag itself
 * could otherwise grant itself whatever a rule opens to that tag). Sorted, without repeats.
 */
export function effectiveTags(assigned: readonly string[], requested: readonly string[], selfTagging: boolean): string[] {
  return [...new Set(selfTagging ? [...assigned, ...requested] : assigned)].sort();
}
