/** pilotctl's way to the daemon: one SDK connection per command, closed when it is done. */
import type { ArgsParam, CallName, Result } from "../local-socket/contract.ts";
import { Pilot } from "../sdk/pilot.ts";

/** Runs `f` with a connection to the daemon of `home` (default PILOT_HOME, or PILOT_SOCKET), closed afterwards. */
export async function withPilot<T>(f: (pilot: Pilot) => Promise<T>, home?: string): Promise<T> {
  const pilot = await Pilot.connect(home);
  try {
    return await f(pilot);
  } finally {
    pilot.close();
  }
}

/** One local-socket command and its reply. */
export const call = <K extends CallName>(cmd: K, ...args: ArgsParam<K>): Promise<Result<K>> => withPilot((pilot) => pilot.call(cmd, ...args));
