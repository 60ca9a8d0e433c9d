import { describe, expect, it } from "vitest";
import { PilotError } from "../src/errors.ts";
import { testHooks } from "../src/main.ts";

const SHARE = "a number from 0 to 0.5";
const DELAY = "a whole number of milliseconds from 0 to 1000";
const RAISE = "a whole number of milliseconds from 100 to 600000";

describe("the daemon's test hooks", () => {
  it("are off when unset", () => {
    expect(testHooks({})).toEqual({ impair: undefined, mtuRaiseMs: undefined });
  });

  it("read each setting within its range", () => {
    expect(testHooks({ PILOT_TEST_DROP_RATE: "0.5", PILOT_TEST_DELAY_MS: "0", PILOT_TEST_MTU_RAISE_MS: "100" })).toEqual({
      impair: { drop: 0.5, reorder: 0, duplicate: 0, delayMs: 0 },
      mtuRaiseMs: 100,
    });
    expect(testHooks({ PILOT_TEST_REORDER_RATE: "0.1", PILOT_TEST_DUPLICATE_RATE: "0", PILOT_TEST_DELAY_MS: "1000", PILOT_TEST_MTU_RAISE_MS: "600000" })).toEqual({
      impair: { drop: 0, reorder: 0.1, duplicate: 0, delayMs: 1000 },
      mtuRaiseMs: 600_000,
    });
  });

  // pilotctl daemon start refuses each of these with the same message (e2e/streams.test.ts starts two).
  const cases: [string, string, string][] = [
    ...["lots", "0.9", "-0.1", "", "1e-1", " 0.1", "NaN"].map((bad): [string, string, string] => ["PILOT_TEST_DROP_RATE", bad, SHARE]),
    ["PILOT_TEST_REORDER_RATE", "0.9", SHARE],
    ["PILOT_TEST_DUPLICATE_RATE", "x", SHARE],
    ...["soon", "-5", "2.5", "1001", "", "1e2", "0x10"].map((bad): [string, string, string] => ["PILOT_TEST_DELAY_MS", bad, DELAY]),
    ...["fast", "99", "0", "600001", "1.5", "", "1e3"].map((bad): [string, string, string] => ["PILOT_TEST_MTU_RAISE_MS", bad, RAISE]),
  ];
  it.each(cases)("refuse %s=%j, saying what it must be", (name, bad, rule) => {
    let error: unknown;
    try {
      testHooks({ [name]: bad });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PilotError);
    expect((error as PilotError).code).toBe("invalid_argument");
    expect((error as PilotError).message).toBe(`${name} must be ${rule}, not ${JSON.stringify(bad)}`);
  });
});
