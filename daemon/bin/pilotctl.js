#!/usr/bin/env node
import { sourcesNeedNewerNode } from "./source-node.js";

// Imported, not linked ahead of this module, so an older Node reaches sourcesNeedNewerNode.
const { pilotctl } = await import("../src/cli/pilotctl.ts").catch(sourcesNeedNewerNode);
const code = await pilotctl(process.argv.slice(2));
// A failed command is final: exit now rather than wait on requests still in flight, such as a
// dial past --timeout that the daemon has not given up on yet (its writes to stderr are synchronous).
if (code !== 0) process.exit(code);
process.exitCode = code;
