/**
 * TURN credentials for nodes, minted by Cloudflare's TURN service (Realtime TURN) when the operator
 * configured a TURN key: the key's ID in the TURN_KEY_ID var, its API token in the
 * TURN_KEY_API_TOKEN secret. The registry asks the service for credentials with a lifetime, keeps
 * only the `turn:` UDP servers (the daemon's client speaks UDP alone) and hands them to the node.
 * The API token never leaves the registry. docs/turn.md has the operator's side.
 */
import { parseTurnUrl, type TurnCredentials } from "@pilot/protocol";
import { z } from "zod";
import { ApiError } from "../errors.ts";
import { iso } from "../time.ts";
import { describeError, type Logger } from "../observability/log.ts";

/**
 * How long credentials last. An allocation cannot outlive the credentials it was made with (the
 * service ends it when they expire), and new credentials mean a new allocation with a new relayed
 * address that peers must learn: an hour keeps that to once an hour for a node that relays, where
 * 10 minutes would make it six times. A leaked credential is worth an hour of relaying, which the
 * node it was issued to could have had anyway by asking again.
 */
export const TURN_CREDENTIAL_TTL_SECONDS = 3600;
/** The service answers in well under a second; past this the node is better off with the WebSocket relay. */
const UPSTREAM_TIMEOUT_MS = 5_000;

type TurnSecrets = { TURN_KEY_API_TOKEN?: string };

/** The service's answer (201): ICE servers, one of which carries the TURN URLs and credentials. */
const GeneratedIceServers = z.object({
  iceServers: z.array(
    z.object({
      urls: z.union([z.string(), z.array(z.string())]),
      username: z.string().optional(),
      credential: z.string().optional(),
    }),
  ),
});

/** The key ID, typed as what an operator may set rather than as wrangler.toml's default. */
const keyId = (env: Env): string => env.TURN_KEY_ID;

export const turnConfigured = (env: Env): boolean => keyId(env) !== "" && Boolean((env as Env & TurnSecrets).TURN_KEY_API_TOKEN);

const notConfigured = () =>
  new ApiError(404, "turn_not_configured", "this registry has no TURN service configured; peers without a direct path are relayed over the registry's WebSocket relay");
const unavailable = () => new ApiError(503, "turn_unavailable", "the TURN service did not issue credentials; use the WebSocket relay and ask again later");

/** Asks the TURN service for credentials; throws turn_not_configured or turn_unavailable. */
export async function mintTurnCredentials(env: Env, log: Logger, now = Date.now()): Promise<TurnCredentials> {
  if (!turnConfigured(env)) throw notConfigured();
  const url = `${env.TURN_API_ORIGIN}/v1/turn/keys/${encodeURIComponent(keyId(env))}/credentials/generate-ice-servers`;
  let answer: unknown;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${(env as Env & TurnSecrets).TURN_KEY_API_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ ttl: TURN_CREDENTIAL_TTL_SECONDS }),
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
    if (!res.ok) {
      // The operator's problem (a revoked key, a wrong token), not the node's: logged, not shown.
      log.warn("turn_api_refused", { status: res.status });
      throw unavailable();
    }
    answer = await res.json();
  } catch (e) {
    if (e instanceof ApiError) throw e;
    log.warn("turn_api_unreachable", describeError(e));
    throw unavailable();
  }
  const parsed = GeneratedIceServers.safeParse(answer);
  const server = parsed.success ? parsed.data.iceServers.find((s) => s.username && s.credential) : undefined;
  const urls = [server?.urls ?? []].flat().filter((u) => parseTurnUrl(u) !== undefined);
  if (!server?.username || !server.credential || urls.length === 0) {
    log.warn("turn_api_unusable", { reason: "no UDP TURN servers and credentials in the answer" });
    throw unavailable();
  }
  return { urls, username: server.username, credential: server.credential, expires_at: iso(now + TURN_CREDENTIAL_TTL_SECONDS * 1000) };
}
