/** The console's policy preview: what a draft would allow, computed with the protocol's evaluator. */
import { describe, expect, it } from "vitest";
import { evaluate, type PolicyRequest } from "@pilot/protocol";
import {
  describeGrant,
  describeRule,
  DraftError,
  grant,
  parsePorts,
  parseRuleTag,
  parseTags,
  portsToward,
  tagMatrix,
  UNTAGGED,
  unknownTags,
  type TaggedMember,
} from "../worker/console/client/policy-preview.ts";

const member = (node_id: number, tags: string[] = [], requested_tags: string[] = []): TaggedMember => ({ node_id, hostname: `agent-${node_id}`, tags, requested_tags });
const web = member(1, ["frontend"]);
const api = member(2, ["api"], ["admin"]);
const db = member(3, ["db"]);
const bare = member(4);
const draft: PolicyRequest = {
  self_tagging: false,
  rules: [
    { from: "frontend", to: "api", ports: [80, 443, [8000, 8999]], protocols: ["stream"] },
    { from: "api", to: "db", ports: [5432], protocols: ["stream", "datagram"] },
    { from: "*", to: "api", ports: [53], protocols: ["datagram"] },
    { from: "admin", to: "*", ports: [[1, 65535]], protocols: ["stream", "datagram"] },
  ],
};

describe("grant", () => {
  it("is what evaluate allows, port by port", () => {
    // The whole port space against the evaluator, for a few pairs of tag sets.
    for (const [from, to] of [[["frontend"], ["api"]], [[], ["api"]], [["api", "frontend"], ["api", "db"]], [[], []]] as const) {
      const g = grant(draft, from, to);
      for (const protocol of ["stream", "datagram"] as const) {
        for (let port = 1; port <= 65535; port++) {
          const inGrant = g[protocol].some(([first, last]) => port >= first && port <= last);
          if (inGrant !== evaluate(draft, from, to, port, protocol).allowed) throw new Error(`${from} → ${to} ${protocol} ${port}`);
        }
      }
    }
  });

  it("merges adjacent and overlapping ranges and says them in words", () => {
    const overlapping: PolicyRequest = {
      self_tagging: false,
      rules: [
        { from: "a", to: "b", ports: [[10, 20], 21, [15, 30]], protocols: ["stream"] },
        { from: "a", to: "b", ports: [31, 40], protocols: ["stream", "datagram"] },
      ],
    };
    expect(grant(overlapping, ["a"], ["b"])).toEqual({ stream: [[10, 31], [40, 40]], datagram: [[31, 31], [40, 40]] });
    expect(describeGrant(grant(overlapping, ["a"], ["b"]))).toBe("stream 10-31, 40 · datagram 31, 40");
    expect(describeGrant(grant(overlapping, ["b"], ["a"]))).toBe("nothing");
    expect(describeGrant(grant({ self_tagging: false, rules: [] }, [], []))).toBe("all ports, stream and datagram");
    expect(describeGrant(grant(draft, ["admin"], []))).toBe("all ports, stream and datagram");
  });
});

describe("tagMatrix", () => {
  it("has a row and a column per tag carried or named, and one for members without tags", () => {
    const m = tagMatrix(draft, [web, api, db, bare]);
    expect(m.tags).toEqual(["admin", "api", "db", "frontend", UNTAGGED]);
    const cell = (from: string, to: string) => describeGrant(m.cells[m.tags.indexOf(from)]![m.tags.indexOf(to)]!);
    expect(cell("frontend", "api")).toBe("stream 80, 443, 8000-8999 · datagram 53");
    expect(cell("api", "frontend")).toBe("nothing");
    expect(cell("api", "db")).toBe("5432, stream and datagram");
    expect(cell(UNTAGGED, "api")).toBe("datagram 53");
    expect(cell("admin", UNTAGGED)).toBe("all ports, stream and datagram");
  });

  it("counts requested tags only when the draft allows self-tagging", () => {
    expect(tagMatrix({ ...draft, rules: [] }, [api]).tags).toEqual(["api"]);
    expect(tagMatrix({ self_tagging: true, rules: [] }, [api]).tags).toEqual(["admin", "api"]);
  });
});

describe("portsToward", () => {
  it("lists what each other member may open to the chosen node, under the draft's self-tagging", () => {
    const rows = (d: PolicyRequest) => portsToward(d, [web, api, db, bare], db.node_id).map((r) => [r.member.node_id, describeGrant(r.grant)]);
    expect(rows(draft)).toEqual([
      [1, "nothing"],
      [2, "5432, stream and datagram"],
      [4, "nothing"],
    ]);
    // With self-tagging the api member's requested "admin" counts, and admin reaches everything.
    expect(rows({ ...draft, self_tagging: true })).toContainEqual([2, "all ports, stream and datagram"]);
    expect(portsToward(draft, [web], 99)).toEqual([]);
  });

  it("takes members from a registry without tags as untagged", () => {
    const old = { node_id: 5, hostname: null };
    expect(portsToward(draft, [old, api], api.node_id).map((r) => describeGrant(r.grant))).toEqual(["datagram 53"]);
  });
});

describe("unknownTags", () => {
  it("names the tags the rules use that no member carries", () => {
    expect(unknownTags(draft, [web, api, db])).toEqual(["admin"]);
    expect(unknownTags({ ...draft, self_tagging: true }, [web, api, db])).toEqual([]);
    expect(unknownTags(draft, [])).toEqual(["admin", "api", "db", "frontend"]);
  });
});

describe("what a person types", () => {
  it("reads ports and ranges, and refuses what is no port with the reason", () => {
    expect(parsePorts("80, 443 8000-8999 22-22")).toEqual([80, 443, [8000, 8999], 22]);
    for (const [text, reason] of [
      ["", /at least one port/],
      ["0", /not a port: ports are 1-65535/],
      ["65536", /not a port/],
      ["http", /not a port/],
      ["9000-8000", /lower port to the higher/],
      ["1-2-3", /not a port/],
      [Array.from({ length: 65 }, (_, i) => i + 1).join(","), /at most 64/],
    ] as const) {
      expect(() => parsePorts(text)).toThrow(DraftError);
      expect(() => parsePorts(text)).toThrow(reason);
    }
  });

  it("reads tags, and * for any member only in rules", () => {
    expect(parseRuleTag(" api ", "to")).toBe("api");
    expect(parseRuleTag("*", "from")).toBe("*");
    expect(() => parseRuleTag("API", "from")).toThrow(/from: a tag is 1-32 lowercase/);
    expect(parseTags("web, api web")).toEqual(["web", "api"]);
    expect(parseTags(" ")).toEqual([]);
    expect(() => parseTags("*")).toThrow(/"\*" is not a tag/);
    expect(() => parseTags(Array.from({ length: 17 }, (_, i) => `t${i}`).join(" "))).toThrow(/at most 16/);
  });

  it("says a rule in words", () => {
    expect(describeRule(draft.rules[0]!)).toBe("frontend → api, stream 80, 443, 8000-8999");
  });
});
