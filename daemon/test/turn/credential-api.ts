/**
 * A stand-in for Cloudflare's TURN credential API, for tests: it answers the request the registry
 * makes (POST /v1/turn/keys/<key ID>/credentials/generate-ice-servers, the key's API token as a
 * bearer token, a JSON body `{"ttl": seconds}`) as the service does, with a 201 and ICE servers,
 * and refuses anything else as it would. The credentials it mints are coturn's shared-secret kind,
 * so a coturn started with the same secret (coturn.ts) accepts them. The Worker's tests use the
 * handler as workerd's outbound service; the NAT lab serves it over HTTP.
 */
import { createServer } from "node:http";
import { restCredentials } from "./rest-credentials.ts";

export interface CredentialApiOptions {
  keyId: string;
  apiToken: string;
  /** The secret the TURN server shares, that the credentials are minted with. */
  secret: string;
  /** The URLs of the second ICE server, the TURN one (Cloudflare lists UDP, TCP and TLS ones). */
  turnUrls: string[];
}

/** The service caps a credential's lifetime at 48 hours. */
const MAX_TTL_SECONDS = 172_800;

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export function credentialApi(options: CredentialApiOptions): (request: Request) => Promise<Response> {
  const path = `/v1/turn/keys/${options.keyId}/credentials/generate-ice-servers`;
  return async (request) => {
    if (new URL(request.url).pathname !== path) return json(404, { error: "no such TURN key" });
    if (request.method !== "POST") return json(405, { error: "method not allowed" });
    if (request.headers.get("authorization") !== `Bearer ${options.apiToken}`) return json(401, { error: "unauthorized" });
    let ttl: unknown;
    try {
      ttl = ((await request.json()) as { ttl?: unknown }).ttl;
    } catch {
      return json(400, { error: "the body is not JSON" });
    }
    if (!Number.isInteger(ttl) || (ttl as number) < 1 || (ttl as number) > MAX_TTL_SECONDS) return json(400, { error: "ttl must be 1 to 172800 seconds" });
    const { username, credential } = restCredentials(options.secret, ttl as number);
    return json(201, { iceServers: [{ urls: ["stun:stun.cloudflare.com:3478"] }, { urls: options.turnUrls, username, credential }] });
  };
}

/** Serves the stand-in over HTTP on `host` (a free port); resolves with its origin once it listens. */
export async function serveCredentialApi(options: CredentialApiOptions, host: string): Promise<{ origin: string; close(): Promise<void> }> {
  const handle = credentialApi(options);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = new Headers(Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : [])));
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks);
      void handle(new Request(`http://${host}${req.url}`, { method: req.method, headers, body })).then(async (answer) => {
        res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" });
        res.end(Buffer.from(await answer.arrayBuffer()));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  return { origin: `http://${host}:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
