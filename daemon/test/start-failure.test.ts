/** The line a daemon that could not start leaves in its log, read back by pilotctl daemon start: its own code and hint, or nothing from a damaged log. */
import { describe, expect, it } from "vitest";
import { PilotError } from "../src/errors.ts";
import { readStartFailure, startFailureLine } from "../src/start-failure.ts";

const stamped = (line: string) => `2026-12-02T01:00:00.000Z ${line}`;

describe("a start-up failure in the log", () => {
  it("reads back as the error the daemon failed with, the last one winning", () => {
    const first = new PilotError("unreachable", "the registry at http://127.0.0.1:9 cannot be reached", "check the registry's URL");
    const taken = new PilotError("hostname_taken", 'the hostname "a" (with "quotes") belongs to another node', "start with another: pilotctl daemon start --hostname <other-name>");
    const log = [stamped("listening"), stamped(startFailureLine(first)), stamped("starting again"), stamped(startFailureLine(taken)), ""].join("\n");
    expect(readStartFailure(log)).toMatchObject({ code: "hostname_taken", message: taken.message, hint: taken.hint });
  });

  it("is nothing when the log's last lines hold no failure, or a damaged or forged one", () => {
    const ok = stamped(startFailureLine(new PilotError("no_registry", "no registry", "pilotctl init --registry URL")));
    expect(readStartFailure([ok, ...Array.from({ length: 5 }, (_, i) => stamped(`line ${i}`))].join("\n"))).toBeNull();
    for (const bad of ["failed to start: {", 'failed to start: {"code":"Not A Code","message":"m","hint":"h"}', 'failed to start: {"code":"x","message":1,"hint":"h"}', "failed to start: null", 'failed to start: ["x"]']) {
      expect(readStartFailure(stamped(bad)), bad).toBeNull();
    }
  });
});
