/**
 * The registry's OpenAPI document as the Worker serves it: the Worker is started locally (no
 * secrets, no storage: the document needs neither) and asked for /v1/openapi.json at a fixed
 * origin, so its `servers` entry, and everything generated from it, is the same on every machine.
 * The Worker's modules import cloudflare: APIs, so running it in workerd is the only faithful way.
 */
import { unstable_startWorker } from "wrangler";

/** The origin the document is fetched at: a local registry's (npm start). */
export const DOCUMENT_ORIGIN = "http://localhost:8787";

export async function servedDocument(): Promise<string> {
  // Wrangler's own banner and request log would bury what the caller prints.
  process.env["WRANGLER_LOG"] ??= "error";
  const worker = await unstable_startWorker({ config: new URL("../wrangler.toml", import.meta.url).pathname, dev: { server: { port: 0 }, inspector: false, watch: false } });
  try {
    const res = await worker.fetch(`${DOCUMENT_ORIGIN}/v1/openapi.json`);
    if (res.status !== 200) throw new Error(`GET /v1/openapi.json answered ${res.status}: ${await res.text()}`);
    return `${JSON.stringify(await res.json(), null, 2)}\n`;
  } finally {
    await worker.dispose();
  }
}

if (import.meta.main) process.stdout.write(await servedDocument());
