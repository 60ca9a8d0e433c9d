import { randomBytes } from "node:crypto";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const migrations = await readD1Migrations("./migrations");
// The Worker requires this secret (wrangler.toml); tests get a fresh random one each run.
process.env.TOKEN_SECRET ??= randomBytes(32).toString("hex");

export default defineConfig({
  test: {
    // workerd can take a while to shut down; a short teardown shows up as "Worker exited unexpectedly".
    teardownTimeout: 60_000,
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            remoteBindings: false,
            miniflare: {
              bindings: { TEST_MIGRATIONS: migrations },
            },
          }),
        ],
        test: {
          name: "worker",
          include: ["test/**/*.test.ts"],
          exclude: ["test/browser/**"],
          setupFiles: ["./test/apply-migrations.ts"],
          testTimeout: 20_000,
        },
      },
      "./protocol",
      "./daemon",
      "./daemon/vitest.lab.config.ts",
      {
        // The console in real headless Chromium, against a real local registry and real daemons.
        // The global setup finds Chromium (installing Debian's as root) and provides its path.
        test: {
          name: "console",
          environment: "node",
          include: ["test/browser/**/*.test.ts"],
          globalSetup: ["./test/browser/chromium-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      // The project's own scripts (npm start's steps), run as Node programs.
      { test: { name: "scripts", environment: "node", include: ["scripts/**/*.test.ts"] } },
    ],
  },
});
