#!/usr/bin/env node
import { sourcesNeedNewerNode } from "./source-node.js";

// Imported, not linked ahead of this module, so an older Node reaches sourcesNeedNewerNode.
const { daemonMain } = await import("../src/main.ts").catch(sourcesNeedNewerNode);
daemonMain(process.argv.slice(2));
