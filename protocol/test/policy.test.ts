import { describe, expect, it } from "vitest";
import { effectiveTags, evaluate, MemberTagsRequest, PolicyCheckRequest, PolicyRequest, Rule, TAG_PATTERN, type PolicyProtocol } from "../src/index.ts";

const rule = (from: string, to: string, ports: Rule["ports"], protocols: PolicyProtocol[] = ["stream", "datagram"]): Rule => ({ from, to, ports, protocols });

describe("evaluate", () => {
  it("allows every port and protocol when the network has no rules, whatever the tags", () => {
    for (const port of [1, 80, 65535]) {
      expect(evaluate({ rules: [] }, [], [], port, "stream")).toEqual({ allowed: true, rule: null, reason: "no_policy" });
      expect(evaluate({ rules: [] }, ["a"], [], port, "datagram")).toEqual({ allowed: true, rule: null, reason: "no_policy" });
    }
  });

  it("grants only what a rule names: source tag, destination tag, port and protocol", () => {
    const policy = { rules: [rule("frontend", "api", [80, 443], ["stream"])] };
    expect(evaluate(policy, ["frontend"], ["api"], 443, "stream")).toEqual({ allowed: true, rule: 0, reason: "rule" });
    const denied = { allowed: false, rule: null, reason: "no_rule" };
    expect(evaluate(policy, ["frontend"], ["api"], 444, "stream")).toEqual(denied);
    expect(evaluate(policy, ["frontend"], ["api"], 443, "datagram")).toEqual(denied);
    // Direction matters: api may not open frontend's ports.
    expect(evaluate(policy, ["api"], ["frontend"], 443, "stream")).toEqual(denied);
    expect(evaluate(policy, ["frontend"], ["db"], 443, "stream")).toEqual(denied);
    // A member without tags matches no tag.
    expect(evaluate(policy, [], ["api"], 80, "stream")).toEqual(denied);
  });

  it("takes ranges inclusively at both ends", () => {
    const policy = { rules: [rule("a", "b", [[8000, 8999]])] };
    expect(evaluate(policy, ["a"], ["b"], 7999, "stream").allowed).toBe(false);
    expect(evaluate(policy, ["a"], ["b"], 8000, "stream").allowed).toBe(true);
    expect(evaluate(policy, ["a"], ["b"], 8999, "stream").allowed).toBe(true);
    expect(evaluate(policy, ["a"], ["b"], 9000, "stream").allowed).toBe(false);
  });

  it("lets * stand for any member, tagged or not", () => {
    const policy = { rules: [rule("*", "api", [443]), rule("ops", "*", [[1, 65535]], ["stream"])] };
    expect(evaluate(policy, [], ["api"], 443, "datagram")).toEqual({ allowed: true, rule: 0, reason: "rule" });
    expect(evaluate(policy, ["ops"], [], 22, "stream")).toEqual({ allowed: true, rule: 1, reason: "rule" });
    expect(evaluate(policy, [], [], 22, "stream").allowed).toBe(false);
  });

  it("unites overlapping rules and names the first that grants", () => {
    const policy = { rules: [rule("a", "b", [[1, 100]], ["stream"]), rule("a", "b", [[50, 200]]), rule("c", "b", [300])] };
    expect(evaluate(policy, ["a"], ["b"], 60, "stream").rule).toBe(0);
    expect(evaluate(policy, ["a"], ["b"], 60, "datagram").rule).toBe(1);
    expect(evaluate(policy, ["a"], ["b"], 150, "stream").rule).toBe(1);
    // A member with two tags gets what either tag is granted.
    expect(evaluate(policy, ["a", "c"], ["b"], 300, "stream").rule).toBe(2);
    expect(evaluate(policy, ["a"], ["b"], 300, "stream").allowed).toBe(false);
  });
});

describe("effectiveTags", () => {
  it("counts a node's own requested tags only where the network allows self-tagging", () => {
    expect(effectiveTags(["web"], ["api", "web"], false)).toEqual(["web"]);
    expect(effectiveTags(["web"], ["api", "web"], true)).toEqual(["api", "web"]);
    expect(effectiveTags([], [], true)).toEqual([]);
  });
});

describe("the schemas", () => {
  const ok = { from: "frontend", to: "api", ports: [80, 443, [8000, 8999]], protocols: ["stream", "datagram"] };

  it("accept the contract's example rule and a policy of the largest size", () => {
    expect(Rule.parse(ok)).toEqual(ok);
    const most = { from: "*", to: "*", ports: Array.from({ length: 64 }, (_, i) => i + 1), protocols: ["stream"] };
    expect(PolicyRequest.safeParse({ self_tagging: true, rules: Array(256).fill(most) }).success).toBe(true);
  });

  it.each([
    ["port 0", { ...ok, ports: [0] }],
    ["port 65536", { ...ok, ports: [65536] }],
    ["a fractional port", { ...ok, ports: [80.5] }],
    ["a reversed range", { ...ok, ports: [[9000, 8000]] }],
    ["a range past 65535", { ...ok, ports: [[1, 65536]] }],
    ["a range of three", { ...ok, ports: [[1, 2, 3]] }],
    ["no ports", { ...ok, ports: [] }],
    ["65 ports", { ...ok, ports: Array.from({ length: 65 }, (_, i) => i + 1) }],
    ["no protocols", { ...ok, protocols: [] }],
    ["a repeated protocol", { ...ok, protocols: ["stream", "stream"] }],
    ["an unknown protocol", { ...ok, protocols: ["tcp"] }],
    ["an upper-case tag", { ...ok, from: "Frontend" }],
    ["a tag ending with a hyphen", { ...ok, to: "api-" }],
    ["a 33-character tag", { ...ok, to: "a".repeat(33) }],
    ["an empty tag", { ...ok, from: "" }],
    ["an unknown field", { ...ok, allow: true }],
  ])("refuse a rule with %s", (_, bad) => {
    expect(Rule.safeParse(bad).success).toBe(false);
  });

  it("refuse more than 256 rules, and a policy without self_tagging", () => {
    expect(PolicyRequest.safeParse({ self_tagging: false, rules: Array(257).fill(ok) }).success).toBe(false);
    expect(PolicyRequest.safeParse({ rules: [] }).success).toBe(false);
  });

  it("take at most 16 distinct tags per member", () => {
    const tags = Array.from({ length: 16 }, (_, i) => `t${i}`);
    expect(MemberTagsRequest.safeParse({ tags }).success).toBe(true);
    expect(MemberTagsRequest.safeParse({ tags: [...tags, "t16"] }).success).toBe(false);
    expect(MemberTagsRequest.safeParse({ tags: ["a", "a"] }).success).toBe(false);
    expect(MemberTagsRequest.safeParse({ tags: ["*"] }).success).toBe(false);
  });

  it("check a port of 1-65535 and a known protocol", () => {
    const check = { from: "web-1", to: "1001", port: 443, protocol: "stream" };
    expect(PolicyCheckRequest.safeParse(check).success).toBe(true);
    for (const port of [0, 65536]) expect(PolicyCheckRequest.safeParse({ ...check, port }).success).toBe(false);
    expect(PolicyCheckRequest.safeParse({ ...check, protocol: "udp" }).success).toBe(false);
  });

  // Browsers compile a pattern attribute as ^(?:source)$ with the v flag; the console's tag fields use it.
  it("has a tag pattern that is also a valid HTML pattern attribute with the same meaning", () => {
    const html = new RegExp(`^(?:${TAG_PATTERN.source})$`, "v");
    for (const tag of ["a", "api", "web-1", "a".repeat(32), "-a", "a-", "A", "a_b", "a".repeat(33), "", "*"]) {
      expect(html.test(tag)).toBe(TAG_PATTERN.test(tag));
    }
  });
});
