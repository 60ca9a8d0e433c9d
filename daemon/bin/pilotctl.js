#!/usr/bin/env node
import { pilotctl } from "../src/cli/pilotctl.ts";

process.exitCode = await pilotctl(process.argv.slice(2));
