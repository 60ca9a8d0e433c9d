declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** The key the stand-in of the TURN credential API (vitest.config.ts) expects, and the secret it mints with. */
    /** The admin API's operator credential (vitest.config.ts gives the tests' registry a random one). */
    OPERATOR_TOKEN: string;
    TEST_TURN_API: { keyId: string; apiToken: string; secret: string; turnUrls: string[] };
    /** The account and token the stand-in of the Analytics Engine SQL API (vitest.config.ts) expects. */
    TEST_ANALYTICS_API: { accountId: string; apiToken: string; dataset: string };
  }
}
