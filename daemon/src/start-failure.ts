/**
 * Why a daemon could not start, as it leaves it in its log: one line, its error as JSON, which
 * `pilotctl daemon start` reads back so that the person who ran it gets the daemon's own code and
 * hint (hostname_taken, and what to run instead), not a generic failure that says to read the log.
 */
import { PilotError } from "./errors.ts";

const MARK = "failed to start: ";
/** Only the last lines are looked at: the caller hands over what the start that failed wrote, and its failure comes last. */
const LINES_LOOKED_AT = 5;

export const startFailureLine = (e: PilotError): string => `${MARK}${JSON.stringify({ code: e.code, message: e.message, hint: e.hint })}`;

/** The error the last start-up failure in `log` (what one start wrote) recorded, or null if its last lines hold none (or only a damaged one). */
export function readStartFailure(log: string): PilotError | null {
  const line = log
    .trimEnd()
    .split("\n")
    .slice(-LINES_LOOKED_AT)
    .findLast((l) => l.includes(MARK));
  if (line === undefined) return null;
  let e: unknown;
  try {
    e = JSON.parse(line.slice(line.indexOf(MARK) + MARK.length));
  } catch {
    return null;
  }
  if (typeof e !== "object" || e === null) return null;
  const { code, message, hint } = e as Record<string, unknown>;
  if (typeof code !== "string" || !/^[a-z_]{1,40}$/.test(code) || typeof message !== "string" || typeof hint !== "string") return null;
  return new PilotError(code, message, hint);
}
