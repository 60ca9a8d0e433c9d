/**
 * `npm run deploy`'s first step: refuses to deploy while wrangler.toml still names the placeholder
 * D1 database, which would otherwise fail half-way (migrations against a database that does not
 * exist) or, with `wrangler deploy` alone, publish a Worker bound to nothing. CI's
 * `wrangler deploy --dry-run` validates the bundle from a clean clone and never runs this.
 * Takes the config's path as its argument (wrangler.toml beside package.json by default).
 */
import { readFileSync } from "node:fs";

const PLACEHOLDER_DATABASE_ID = "00000000-0000-0000-0000-000000000000";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const path = process.argv[2] ?? new URL("../wrangler.toml", import.meta.url);
const ids = [...readFileSync(path, "utf8").matchAll(/^\s*database_id\s*=\s*"([^"]*)"/gm)].map((m) => m[1]!);

const fix =
  "Create the database with `npx wrangler d1 create pilot-registry`, put the database_id it prints into the [[d1_databases]] block of wrangler.toml, and run `npm run deploy` again (docs/operations.md, \"A first deployment\").";

if (ids.length === 0) {
  console.error(`deploy refused: wrangler.toml names no D1 database_id. ${fix}`);
  process.exit(1);
}
for (const id of ids) {
  if (id === PLACEHOLDER_DATABASE_ID) {
    console.error(`deploy refused: wrangler.toml still has the placeholder D1 database ID ${PLACEHOLDER_DATABASE_ID}. ${fix}`);
    process.exit(1);
  }
  if (!UUID.test(id)) {
    console.error(`deploy refused: wrangler.toml's D1 database_id "${id}" is not a database ID (a UUID). ${fix}`);
    process.exit(1);
  }
}
