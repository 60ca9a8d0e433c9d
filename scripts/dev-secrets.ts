/**
 * Gives local development a TOKEN_SECRET with no manual step: writes a random one into .dev.vars
 * (ignored by git) unless one is already there. Production uses `wrangler secret put TOKEN_SECRET`.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const file = new URL("../.dev.vars", import.meta.url);
const current = existsSync(file) ? readFileSync(file, "utf8") : "";
if (!/^TOKEN_SECRET=/m.test(current)) {
  const line = `TOKEN_SECRET=${randomBytes(32).toString("hex")}\n`;
  writeFileSync(file, current && !current.endsWith("\n") ? `${current}\n${line}` : current + line, { mode: 0o600 });
  console.error("wrote a random TOKEN_SECRET for local development into .dev.vars");
}
