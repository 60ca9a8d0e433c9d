import { randomBytes } from "node:crypto";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { credentialApi } from "./daemon/test/turn/credential-api.ts";
import { analyticsSqlApi } from "./test/stand-ins/analytics-sql-api.ts";

// Every Node process the tests start (daemons, pilotctl, programs) reads its sources with their
// types already stripped, from a cache (test/strip-cache.js says why); once, if the config loads again.
const stripCache = `--import=${new URL("./test/strip-cache.js", import.meta.url).href}`;
if (!process.env.NODE_OPTIONS?.includes(stripCache)) process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, stripCache].filter(Boolean).join(" ");

const migrations = await readD1Migrations("./migrations");
// The Worker requires this secret (wrangler.toml); tests get a fresh random one each run.
process.env.TOKEN_SECRET ??= randomBytes(32).toString("hex");
// The operator credential of the admin API (worker/auth/operator-auth.ts), an optional secret: the
// Worker tests get it as a binding, and also run the registry without it to see the admin API refuse.
const operatorToken = randomBytes(32).toString("hex");
// The Worker's outbound requests in its tests go to a stand-in of Cloudflare's TURN credential API
// (the only service the Worker calls), which expects this key; the tests configure the registry
// with it, or with wrong values.
const turnApi = {
  keyId: "test-turn-key",
  apiToken: randomBytes(16).toString("hex"),
  secret: randomBytes(16).toString("hex"),
  turnUrls: [
    "turn:turn.example.net:3478?transport=udp",
    "turn:turn.example.net:53?transport=udp",
    "turn:turn.example.net:3478?transport=tcp",
    "turns:turn.example.net:5349?transport=tcp",
  ],
};
const turnApiHandler = credentialApi(turnApi);
/** wrangler.toml's TURN_API_ORIGIN, Cloudflare's. */
const TURN_API_ORIGIN = "https://rtc.live.cloudflare.com";
// The operator's stats read the metrics through a stand-in of the Analytics Engine SQL API, which
// expects this account and token; the tests configure the registry with them, or with wrong ones.
const analyticsApi = { accountId: "0123456789abcdef0123456789abcdef", apiToken: randomBytes(16).toString("hex"), dataset: "pilot_registry" };
const analyticsApiHandler = analyticsSqlApi(analyticsApi);
/** wrangler.toml's ANALYTICS_API_ORIGIN, Cloudflare's. */
const ANALYTICS_API_ORIGIN = "https://api.cloudflare.com";
const standIns: Record<string, (request: Request) => Promise<Response>> = { [TURN_API_ORIGIN]: turnApiHandler, [ANALYTICS_API_ORIGIN]: analyticsApiHandler };

export default defineConfig({
  test: {
    // workerd can take a while to shut down; a short teardown shows up as "Worker exited unexpectedly".
    teardownTimeout: 60_000,
    // Two files at a time even on a 2-core machine (vitest's default there is one): most end-to-end
    // files spend their time waiting on timers and the network rather than on the CPU, and every
    // test is written to pass on a busy machine. This reaches the projects defined here; those in
    // config files of their own (daemon, protocol, lab) say so themselves, or vitest would run their
    // files one at a time after the rest.
    maxWorkers: 2,
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            remoteBindings: false,
            miniflare: {
              bindings: { TEST_MIGRATIONS: migrations, TEST_TURN_API: turnApi, TEST_ANALYTICS_API: analyticsApi, OPERATOR_TOKEN: operatorToken },
              // Miniflare hands over its own undici Request, which has what the handlers read. Any
              // other origin is fetched for real (a test points the registry at a closed port).
              outboundService: (request) => {
                const standIn = standIns[new URL(request.url).origin];
                return standIn ? standIn(request as unknown as Request) : fetch(request.url, { method: request.method });
              },
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
          // A page's answer can wait on the registry and on Chromium, both slow on a busy 2-core
          // machine: every expect.poll waits up to 30 s unless it says otherwise (the default is 1 s).
          expect: { poll: { timeout: 30_000 } },
        },
      },
      // The project's own scripts (npm start's steps), run as Node programs.
      { test: { name: "scripts", environment: "node", include: ["scripts/**/*.test.ts"] } },
    ],
  },
});
