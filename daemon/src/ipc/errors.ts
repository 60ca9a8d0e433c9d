/** How the daemon words what went wrong with a program's request. */
import { PilotError } from "../errors.ts";
import type { ErrorBody } from "../local-socket/frames.ts";

export function errorBody(e: unknown): ErrorBody {
  if (e instanceof PilotError) return { code: e.code, message: e.message, hint: e.hint };
  return { code: "internal", message: e instanceof Error ? e.message : String(e), hint: "see the daemon's log (pilot.log)" };
}
