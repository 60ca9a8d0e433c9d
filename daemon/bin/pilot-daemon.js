#!/usr/bin/env node
import { daemonMain } from "../src/main.ts";

daemonMain(process.argv.slice(2));
