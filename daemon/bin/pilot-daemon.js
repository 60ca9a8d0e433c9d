#!/usr/bin/env node
import { daemonMain } from "../src/agent/main.ts";

daemonMain(process.argv.slice(2));
