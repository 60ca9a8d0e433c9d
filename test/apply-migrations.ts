import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Setup files may run more than once per file; applyD1Migrations skips what already ran.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
