/**
 * Writes the console's browser script to public/console/app.js, where the Worker's static assets
 * serve it. wrangler runs this as the custom build in wrangler.toml before `wrangler dev` (so
 * `npm start`), `wrangler deploy` and the tests' local registries, so the served script is never
 * missing or stale; the file is not committed.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bundleConsole } from "./console-bundle.ts";

const path = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));
const OUT = path("public/console/app.js");

const { code, packages } = await bundleConsole();
// The script shares plain constants, functions and types with @pilot/protocol; a schema would bring
// zod along and multiply its size.
if (packages.length > 0) {
  console.error(`The console's script would bundle ${packages.join(", ")}: import only plain values (constants, patterns, functions) and types from @pilot/protocol.`);
  process.exit(1);
}

const current = (() => {
  try {
    return readFileSync(OUT);
  } catch {
    return undefined;
  }
})();
// Unchanged output is left alone: a running `wrangler dev` would otherwise reload its assets.
if (!current?.equals(code)) {
  // Tests start several registries at once, each running this build: the file is replaced in one
  // step, from a scratch file on the same disk, so that no server reads it half-written.
  const scratch = path(`.wrangler/tmp/console-app-${process.pid}.js`);
  mkdirSync(path(".wrangler/tmp"), { recursive: true });
  writeFileSync(scratch, code);
  renameSync(scratch, OUT);
}
