#!/usr/bin/env node
import { daemonMain } from "../src/daemon/main.ts";

daemonMain(process.argv.slice(2));
