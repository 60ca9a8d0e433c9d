/**
 * `npm run lint:openapi` (part of `npm run check`): the served API description must pass Redocly
 * CLI's lint (redocly.yaml: recommended-strict, every finding an error), and the committed client
 * types (test/generated/registry-api.ts) must be the ones it generates. Needs nothing running: the
 * Worker is started locally for the document.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { servedDocument } from "./openapi-document.ts";
import { TYPES_FILE, typesOf } from "./openapi-types.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where .redocly.lint-ignore.yaml expects the document: under .wrangler/, which git ignores. */
const LINTED = ".wrangler/openapi.json";

const document = await servedDocument();
await mkdir(`${ROOT}.wrangler`, { recursive: true });
await writeFile(`${ROOT}${LINTED}`, document);

let failed = false;
try {
  const cli = fileURLToPath(import.meta.resolve("@redocly/cli/bin/cli.js"));
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, "lint", LINTED, "--format", "stylish"], {
    cwd: ROOT,
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  });
  process.stdout.write(stdout + stderr);
} catch (e) {
  const { stdout = "", stderr = "" } = e as { stdout?: string; stderr?: string };
  process.stderr.write(`${stdout}${stderr}The API description fails its lint (redocly.yaml); see above.\n`);
  failed = true;
}

if ((await readFile(TYPES_FILE, "utf8").catch(() => "")) !== (await typesOf(document))) {
  console.error(`${fileURLToPath(TYPES_FILE)} is not what the served document generates; run: npm run openapi:types`);
  failed = true;
}
process.exit(failed ? 1 : 0);
