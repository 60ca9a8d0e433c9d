import { describe, expect, it } from "vitest";
import { effectiveTags, evaluate, PolicyRequest, MAX_RULE_PORTS, MAX_RULES, TagsRequest, type Rule } from "../src/index.ts";

const rule = (from: string, to: string, ports: Rule["ports"], protocols: Rule["protocols"] = ["stream", "datagram"]): Rule => ({ from, to, ports, protocols });

describe("evaluate", () => {
  it("allows every port and protocol when there is no policy or no rule", () => {
    for (const policy of [undefined, { rules: [] }]) {
      expect(evaluate(policy, [], [], 1, "stream")).toEqual({ allowed: true, rule: null, reason: "no_policy" });
      expect(evaluate(policy, ["x"], [], 65535, "datagram")).toEqual({ allowed: true, rule: null, reason: "no_policy" });
    }
  });

  it("allows what a rule grants, from a tag to a tag, and nothing else", () => {
    const policy = { rules: [rule("frontend", "api", [80, 443], ["stream"])] };
    expect(evaluate(policy, ["frontend"], ["api"], 80, "stream")).toEqual({ allowed: true, rule: 0, reason: "rule" });
    expect(evaluate(policy, ["frontend"], ["api"], 443, "stream").allowed).toBe(true);
    expect(evaluate(policy, ["frontend"], ["api"], 81, "stream")).toEqual({ allowed: false, rule: null, reason: "no_rule" });
    // The direction matters: api may not reach frontend.
    expect(evaluate(policy, ["api"], ["frontend"], 80, "stream").allowed).toBe(false);
    // Only the protocols the rule names.
    expect(evaluate(policy, ["frontend"], ["api"], 80, "datagram").allowed).toBe(false);
  });

  it("matches inclusive ranges at both ends and not beyond", () => {
    const policy = { rules: [rule("a", "b", [[8000, 8999]])] };
    expect(evaluate(policy, ["a"], ["b"], 8000, "stream").allowed).toBe(true);
    expect(evaluate(policy, ["a"], ["b"], 8999, "datagram").allowed).toBe(true);
    expect(evaluate(policy, ["a"], ["b"], 7999, "stream").allowed).toBe(false);
    expect(evaluate(policy, ["a"], ["b"], 9000, "stream").allowed).toBe(false);
  });

  it("denies members with no tags unless a rule says *", () => {
    const tagged = { rules: [rule("a", "b", [1])] };
    expect(evaluate(tagged, [], ["b"], 1, "stream").allowed).toBe(false);
    expect(evaluate(tagged, ["a"], [], 1, "stream").allowed).toBe(false);
    const anyone = { rules: [rule("*", "b", [1]), rule("a", "*", [2])] };
    expect(evaluate(anyone, [], ["b"], 1, "stream")).toEqual({ allowed: true, rule: 0, reason: "rule" });
    expect(evaluate(anyone, ["a"], [], 2, "stream")).toEqual({ allowed: true, rule: 1, reason: "rule" });
    expect(evaluate(anyone, [], [], 2, "stream").allowed).toBe(false);
  });

  it("takes the union of overlapping rules and names the first that allows", () => {
    const policy = {
      rules: [rule("a", "b", [[1, 100]], ["datagram"]), rule("a", "b", [[50, 150]], ["stream"]), rule("c", "b", [60])],
    };
    expect(evaluate(policy, ["a"], ["b"], 60, "datagram").rule).toBe(0);
    expect(evaluate(policy, ["a"], ["b"], 60, "stream").rule).toBe(1);
    expect(evaluate(policy, ["a", "c"], ["b"], 60, "stream").rule).toBe(1);
    expect(evaluate(policy, ["a", "c"], ["b"], 60, "datagram").rule).toBe(0);
    expect(evaluate(policy, ["c"], ["b"], 60, "datagram").rule).toBe(2);
    expect(evaluate(policy, ["a"], ["b"], 120, "datagram").allowed).toBe(false);
  });
});

describe("effectiveTags", () => {
  it("adds requested tags only where the network allows self-tagging, once each, sorted", () => {
    expect(effectiveTags(["web", "api"], ["db", "web"], false)).toEqual(["api", "web"]);
    expect(effectiveTags(["web", "api"], ["db", "web"], true)).toEqual(["api", "db", "web"]);
  });
});

describe("policy schemas", () => {
  const issue = (input: unknown) => {
    const parsed = PolicyRequest.safeParse(input);
    return parsed.success ? undefined : parsed.error.issues[0];
  };
  const ok = { self_tagging: false, rules: [rule("frontend", "api", [80, [8000, 8999]], ["stream"])] };

  it("takes a valid policy, and * on either side", () => {
    expect(issue(ok)).toBeUndefined();
    expect(issue({ self_tagging: true, rules: [rule("*", "*", [1, 65535])] })).toBeUndefined();
  });

  it("refuses ports 0 and 65536, reversed ranges, bad tags and duplicate protocols", () => {
    for (const bad of [
      rule("a", "b", [0]),
      rule("a", "b", [65536]),
      rule("a", "b", [[0, 10]]),
      rule("a", "b", [[10, 9]]),
      rule("a", "b", [1.5]),
      rule("a", "b", []),
      rule("Web", "b", [1]),
      rule("a", "-b", [1]),
      rule("a", "b".repeat(33), [1]),
      rule("a", "b", [1], []),
      rule("a", "b", [1], ["stream", "stream"]),
      rule("a", "b", Array.from({ length: MAX_RULE_PORTS + 1 }, (_, i) => i + 1)),
      { ...rule("a", "b", [1]), extra: 1 },
    ]) {
      expect(issue({ self_tagging: false, rules: [bad] }), JSON.stringify(bad)).toBeDefined();
    }
    expect(issue({ rules: [] })).toBeDefined();
  });

  it("marks a policy over the rule limit with its own code", () => {
    const rules = Array.from({ length: MAX_RULES + 1 }, () => rule("a", "b", [1]));
    expect(issue({ self_tagging: false, rules })).toMatchObject({ code: "custom", params: { code: "policy_too_large" } });
    expect(issue({ self_tagging: false, rules: rules.slice(1) })).toBeUndefined();
  });

  it("refuses duplicate tags and more than the limit", () => {
    expect(TagsRequest.safeParse({ tags: ["a", "a"] }).success).toBe(false);
    expect(TagsRequest.safeParse({ tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }).success).toBe(false);
    expect(TagsRequest.safeParse({ tags: [] }).success).toBe(true);
  });
});
