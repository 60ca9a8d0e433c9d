/**
 * What a draft policy would allow, before it is saved: the tag matrix, the ports each member may
 * open to one node, and rules naming tags nobody carries. Every answer comes from the protocol's
 * `evaluate`, the function the registry and the daemons decide with, so the preview cannot drift
 * from enforcement. No DOM here: policy-editor.ts shows what this computes.
 */
import {
  ANY_MEMBER,
  effectiveTags,
  evaluate,
  MAX_PORT,
  MAX_RULE_PORTS,
  MAX_TAGS,
  POLICY_PROTOCOLS,
  portRange,
  TAG_PATTERN,
  TAG_RULE,
  type PolicyProtocol,
  type PolicyRequest,
  type Rule,
} from "@pilot/protocol";

/** What the preview needs of a member; tags are absent from registries that predate policies. */
export interface TaggedMember {
  node_id: number;
  hostname: string | null;
  tags?: string[];
  requested_tags?: string[];
}

/** Inclusive port ranges per protocol, merged and in order. */
export type Grant = Record<PolicyProtocol, [number, number][]>;

/** A row or column of the matrix: a tag, or the members that carry none. */
export const UNTAGGED = "(no tags)";

export const memberName = (m: TaggedMember) => m.hostname ?? `node ${m.node_id}`;

/** The member's tags in the network under the draft's self_tagging. */
export const tagsOf = (m: TaggedMember, draft: PolicyRequest) => effectiveTags(m.tags ?? [], m.requested_tags ?? [], draft.self_tagging);

/**
 * Everything a member with `fromTags` may open to one with `toTags`. The verdict can only change
 * where a rule that matches the tags starts or ends a port range, so `evaluate` is asked once per
 * stretch between those boundaries instead of once per port.
 */
export function grant(draft: PolicyRequest, fromTags: readonly string[], toTags: readonly string[]): Grant {
  const result: Grant = { stream: [], datagram: [] };
  const edges = new Set([1, MAX_PORT + 1]);
  const matches = (tag: string, tags: readonly string[]) => tag === ANY_MEMBER || tags.includes(tag);
  for (const rule of draft.rules) {
    if (!matches(rule.from, fromTags) || !matches(rule.to, toTags)) continue;
    for (const entry of rule.ports) {
      const [first, last] = portRange(entry);
      edges.add(first).add(last + 1);
    }
  }
  const sorted = [...edges].sort((a, b) => a - b);
  for (const protocol of POLICY_PROTOCOLS) {
    const ranges = result[protocol];
    for (let i = 0; i + 1 < sorted.length; i++) {
      const [first, last] = [sorted[i]!, sorted[i + 1]! - 1];
      if (!evaluate(draft, fromTags, toTags, first, protocol).allowed) continue;
      const previous = ranges.at(-1);
      if (previous && previous[1] + 1 === first) previous[1] = last;
      else ranges.push([first, last]);
    }
  }
  return result;
}

export const formatRanges = (ranges: readonly (readonly [number, number])[]) =>
  ranges.map(([first, last]) => (first === last ? String(first) : `${first}-${last}`)).join(", ");

const allPorts = (ranges: readonly (readonly [number, number])[]) => ranges.length === 1 && ranges[0]![0] === 1 && ranges[0]![1] === MAX_PORT;

/** A grant in words: "stream 80, 443 · datagram 53", "all ports, stream and datagram", or "nothing". */
export function describeGrant(g: Grant): string {
  const [stream, datagram] = [g.stream, g.datagram].map((r) => (allPorts(r) ? "all ports" : formatRanges(r)));
  if (!stream && !datagram) return "nothing";
  if (stream === datagram) return `${stream}, stream and datagram`;
  return [stream && `stream ${stream}`, datagram && `datagram ${datagram}`].filter(Boolean).join(" · ");
}

export interface TagMatrix {
  /** Rows (sources) and columns (destinations) alike. */
  tags: string[];
  /** cells[from][to] */
  cells: Grant[][];
}

/**
 * Which tag may reach which: every tag a member carries or a rule names, and a row and column for
 * members with no tags when there are any. A member with several tags gets the union of its rows.
 */
export function tagMatrix(draft: PolicyRequest, members: readonly TaggedMember[]): TagMatrix {
  const carried = members.map((m) => tagsOf(m, draft));
  const named = draft.rules.flatMap((r) => [r.from, r.to]).filter((t) => t !== ANY_MEMBER);
  const tags = [...new Set([...carried.flat(), ...named])].sort();
  if (carried.some((t) => t.length === 0)) tags.push(UNTAGGED);
  const asTags = (tag: string) => (tag === UNTAGGED ? [] : [tag]);
  return { tags, cells: tags.map((from) => tags.map((to) => grant(draft, asTags(from), asTags(to)))) };
}

/** For one node: what each other member may open to it. */
export function portsToward(draft: PolicyRequest, members: readonly TaggedMember[], nodeId: number): { member: TaggedMember; grant: Grant }[] {
  const target = members.find((m) => m.node_id === nodeId);
  if (!target) return [];
  const toTags = tagsOf(target, draft);
  return members.filter((m) => m !== target).map((member) => ({ member, grant: grant(draft, tagsOf(member, draft), toTags) }));
}

/** Tags the draft's rules name that no member carries (allowed: they may be assigned later). */
export function unknownTags(draft: PolicyRequest, members: readonly TaggedMember[]): string[] {
  const carried = new Set(members.flatMap((m) => tagsOf(m, draft)));
  const named = draft.rules.flatMap((r) => [r.from, r.to]).filter((t) => t !== ANY_MEMBER && !carried.has(t));
  return [...new Set(named)].sort();
}

/** Thrown for what a person typed that cannot be a policy; the message says which field and why. */
export class DraftError extends Error {}

/** "80, 443, 8000-8999" as a rule's ports. */
export function parsePorts(text: string): Rule["ports"] {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) throw new DraftError("name at least one port, for example 80, 443 or 8000-8999");
  if (parts.length > MAX_RULE_PORTS) throw new DraftError(`at most ${MAX_RULE_PORTS} ports or ranges`);
  const port = (s: string) => {
    const n = /^[0-9]{1,5}$/.test(s) ? Number(s) : NaN;
    if (!(n >= 1 && n <= MAX_PORT)) throw new DraftError(`"${s}" is not a port: ports are 1-${MAX_PORT}`);
    return n;
  };
  return parts.map((part) => {
    const range = /^([^-]+)-([^-]+)$/.exec(part);
    if (!range) return port(part);
    const [first, last] = [port(range[1]!), port(range[2]!)];
    if (first > last) throw new DraftError(`"${part}": a range runs from the lower port to the higher`);
    return first === last ? first : [first, last];
  });
}

export const formatPorts = (ports: Rule["ports"]) => formatRanges(ports.map(portRange));

/** A rule's tag as typed: a tag, or * for any member. */
export function parseRuleTag(text: string, side: "from" | "to"): string {
  const tag = text.trim();
  if (tag !== ANY_MEMBER && !TAG_PATTERN.test(tag)) throw new DraftError(`${side}: a tag is ${TAG_RULE} (or * for any member)`);
  return tag;
}

/** A member's tags as typed, separated by spaces or commas. */
export function parseTags(text: string): string[] {
  const tags = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  const bad = tags.find((t) => !TAG_PATTERN.test(t));
  if (bad !== undefined) throw new DraftError(`"${bad}" is not a tag: a tag is ${TAG_RULE}`);
  if (tags.length > MAX_TAGS) throw new DraftError(`at most ${MAX_TAGS} tags per member`);
  return tags;
}

/** A rule in words, for the "why" answer: "frontend → api, stream 80, 443". */
export const describeRule = (r: Rule) => `${r.from} → ${r.to}, ${r.protocols.join(" and ")} ${formatPorts(r.ports)}`;
