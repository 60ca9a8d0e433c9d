#!/usr/bin/env node
import { sourcesNeedNewerNode } from "./source-node.js";

// Imported, not linked ahead of this module, so an older Node reaches sourcesNeedNewerNode.
const { restartBatching } = await import("../src/send-batching.ts").catch(sourcesNeedNewerNode);
// Before the daemon's modules load: this may restart the process in place, sending in batches.
restartBatching();
const { daemonMain } = await import("../src/main.ts").catch(sourcesNeedNewerNode);
daemonMain(process.argv.slice(2));
