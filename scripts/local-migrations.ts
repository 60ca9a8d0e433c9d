/**
 * `npm start`'s migration step: applies the D1 migrations to the local database under .wrangler/
 * (`wrangler d1 migrations apply DB --local`) and says what it did in one line. Wrangler prints
 * its table of migrations again after each one it applies, hundreds of lines on a first run, which
 * pushed the lines that matter (where the registry listens) out of sight. A failure shows all of it.
 */
import { spawnSync } from "node:child_process";

// Wrangler's output grows with the square of the migrations it applies: room for hundreds of them.
const run = spawnSync("wrangler", ["d1", "migrations", "apply", "DB", "--local"], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 256 << 20 });
const output = `${run.stdout ?? ""}${run.stderr ?? ""}`;
if (run.status !== 0) {
  process.stderr.write(output);
  const how = run.status === null ? `was stopped by ${run.signal}` : `exited with ${run.status}`;
  console.error(run.error ? `could not run wrangler: ${run.error.message} (run npm ci first)` : `applying the D1 migrations failed (wrangler ${how})`);
  process.exit(run.status ?? 1);
}
const applied = /About to apply (\d+) migration/.exec(output)?.[1];
console.error(applied ? `Applied ${applied} D1 migration(s) to the local database (.wrangler/).` : "The local database (.wrangler/) has every D1 migration already.");
