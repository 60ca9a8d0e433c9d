/**
 * TURN credentials for nodes (POST /v1/relay/turn): not configured by default; configured, minted by
 * the TURN service, here a stand-in of Cloudflare's credential API (vitest.config.ts) that refuses
 * any request but the one the service expects.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TurnCredentials } from "@pilot/protocol";
import { app } from "../worker/app.ts";
import { awaitFreshRateWindow, errorOf, ORIGIN, register, type Registered } from "./helpers.ts";

const api = env.TEST_TURN_API;
/** The registry as an operator who set the TURN key configured it (or misconfigured it). */
const configured = (changes: { TURN_KEY_ID?: string; TURN_KEY_API_TOKEN?: string } = {}) => ({ ...env, TURN_KEY_ID: api.keyId, TURN_KEY_API_TOKEN: api.apiToken, ...changes });

const turnFor = (n: Registered | undefined, registry: object = env) =>
  app.request(`${ORIGIN}/v1/relay/turn`, { method: "POST", headers: n ? { authorization: `Bearer ${n.token}` } : {} }, registry);

async function hmacSha1Base64(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...mac));
}

describe("TURN credentials", () => {
  it("are not configured by default: 404 turn_not_configured, pointing at the WebSocket relay", async () => {
    const n = await register();
    const error = await errorOf(await turnFor(n));
    expect(error).toMatchObject({ status: 404, code: "turn_not_configured" });
    expect(error.message).toMatch(/WebSocket relay/);
    // A key ID without its token is not a configuration either.
    expect(await errorOf(await turnFor(n, configured({ TURN_KEY_API_TOKEN: "" })))).toMatchObject({ status: 404, code: "turn_not_configured" });
  });

  it("are minted by the TURN service with the key's token and an hour's ttl, and handed out with the UDP TURN servers only", async () => {
    const n = await register();
    const before = Date.now();
    const res = await turnFor(n, configured());
    expect(res.status).toBe(200);
    const creds = (await res.json()) as TurnCredentials;
    expect(creds.urls).toEqual(["turn:turn.example.net:3478?transport=udp", "turn:turn.example.net:53?transport=udp"]);
    // The stand-in mints coturn's kind: "<expiry>:pilot", the expiry being the ttl it was sent from now.
    const expiry = Number(creds.username.split(":")[0]);
    expect(expiry).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 3600);
    expect(expiry).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 3600);
    expect(creds.credential).toBe(await hmacSha1Base64(api.secret, creds.username));
    expect(Date.parse(creds.expires_at)).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(Date.parse(creds.expires_at)).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(JSON.stringify(creds)).not.toContain(api.apiToken);
  });

  it.each([
    ["a wrong API token", { TURN_KEY_API_TOKEN: "not-the-token" }],
    ["a key ID the service does not know", { TURN_KEY_ID: "some-other-key" }],
    ["a key ID that would change the path", { TURN_KEY_ID: "../../other" }],
  ])("are unavailable (503 turn_unavailable) when the service refuses %s", async (_, changes) => {
    const n = await register();
    expect(await errorOf(await turnFor(n, configured(changes)))).toMatchObject({ status: 503, code: "turn_unavailable" });
  });

  it("are unavailable when the service cannot be reached", async () => {
    const n = await register();
    const unreachable = { ...configured(), TURN_API_ORIGIN: "http://127.0.0.1:9" };
    expect(await errorOf(await turnFor(n, unreachable))).toMatchObject({ status: 503, code: "turn_unavailable" });
  });

  it("are refused to a caller without a valid node token, before the service is asked", async () => {
    expect(await errorOf(await turnFor(undefined, configured()))).toMatchObject({ status: 401, code: "token_missing" });
    expect(await errorOf(await turnFor({ token: "x.y.z" } as Registered, configured()))).toMatchObject({ status: 401, code: "token_invalid" });
  });

  it("are limited to 10 requests a minute per node", { timeout: 30_000 }, async () => {
    const [n, other] = [await register(), await register()];
    await awaitFreshRateWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await turnFor(n, configured())).status);
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
    expect((await turnFor(other, configured())).status).toBe(200);
  });
});
