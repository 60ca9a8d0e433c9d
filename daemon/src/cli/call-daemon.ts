import type { ArgsParam, CallName, Result } from "../local-socket/contract.ts";
import { Pilot } from "../sdk/pilot.ts";

/** Runs one command with one reply on the daemon of PILOT_HOME, over a connection closed afterwards. */
export async function callDaemon<K extends CallName>(cmd: K, ...args: ArgsParam<K>): Promise<Result<K>> {
  const pilot = await Pilot.connect();
  try {
    return await pilot.call(cmd, ...args);
  } finally {
    pilot.close();
  }
}
