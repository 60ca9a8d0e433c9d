/**
 * A real registry for Node-side tests: the Worker from wrangler.toml in local workerd, on a real
 * loopback socket, with fresh D1 and Durable Object storage and migrations applied.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createTestHarness } from "wrangler";

export interface LocalRegistry {
  url: string;
  close(): Promise<void>;
}

export async function startLocalRegistry(): Promise<LocalRegistry> {
  const harness = createTestHarness({
    root: fileURLToPath(new URL("../..", import.meta.url)),
    workers: [{ configPath: "./wrangler.toml", secrets: { TOKEN_SECRET: randomBytes(32).toString("hex") } }],
  });
  const { url } = await harness.listen();
  await harness.getWorker().applyD1Migrations("DB");
  return { url: url.origin, close: () => harness.close() };
}
