/** pilotctl's output as a terminal gets it: no control character it would act on, and --json output that parses to the same. */
import { describe, expect, it } from "vitest";
import { forTerminal } from "../src/cli/terminal.ts";

const HOSTILE = "title\u001b]0;owned\u0007 erase\r\u001b[2K csi\u009b2J del\u007f nul\u0000 turned\u202etxt.exe isolate\u2066x\u2069";

describe("text for the terminal", () => {
  it("writes every control character out as a JSON escape, but keeps line breaks and tabs", () => {
    expect(forTerminal(HOSTILE)).toBe(
      "title\\u001b]0;owned\\u0007 erase\\u000d\\u001b[2K csi\\u009b2J del\\u007f nul\\u0000 turned\\u202etxt.exe isolate\\u2066x\\u2069",
    );
    expect(forTerminal("two\nlines\tand a tab, é ✓")).toBe("two\nlines\tand a tab, é ✓");
  });

  it("leaves --json output the same once parsed, whatever strings it holds", () => {
    const data = { justification: HOSTILE, list: [HOSTILE, "plain"], n: 1 };
    for (const text of [JSON.stringify(data), JSON.stringify(data, null, 2)]) {
      const shown = forTerminal(text);
      for (const c of ["\u001b", "\u009b", "\u202e"]) expect(shown).not.toContain(c);
      expect(JSON.parse(shown)).toEqual(data);
    }
  });
});
