/** "Did you mean": the known word a typo was near, and none when nothing is near enough to be meant. */
import { describe, expect, it } from "vitest";
import { nearest } from "../src/cli/suggest.ts";

const FLAGS = ["data", "count", "timeout", "type", "ttl", "json", "help", "hostname", "registry"];

describe("the nearest known word", () => {
  it("is found through a letter dropped, added, changed or two swapped", () => {
    expect(nearest("dat", FLAGS)).toBe("data");
    expect(nearest("countt", FLAGS)).toBe("count");
    expect(nearest("timeoat", FLAGS)).toBe("timeout");
    expect(nearest("cuont", FLAGS)).toBe("count");
    expect(nearest("registyr", FLAGS)).toBe("registry");
  });

  it("is the nearest of several near ones", () => {
    expect(nearest("typ", FLAGS)).toBe("type");
    expect(nearest("jsno", FLAGS)).toBe("json");
  });

  it("is none when nothing is near, a short word allowing one edit only", () => {
    expect(nearest("zzzz", FLAGS)).toBeUndefined();
    expect(nearest("tl", FLAGS)).toBe("ttl");
    expect(nearest("ab", FLAGS)).toBeUndefined();
    expect(nearest("version", FLAGS)).toBeUndefined();
    expect(nearest("", FLAGS)).toBeUndefined();
    expect(nearest("data", [])).toBeUndefined();
  });
});
