/**
 * A real registry for Node-side tests: the Worker from wrangler.toml in local workerd, on a real
 * loopback socket, with fresh D1 and Durable Object storage and migrations applied.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createTestHarness } from "wrangler";
import type { Network } from "@pilot/protocol";

export interface LocalRegistry {
  url: string;
  harness: ReturnType<typeof createTestHarness>;
  /** Restarts the Worker with other settings, as an operator's change would, keeping its storage and TOKEN_SECRET. */
  reconfigure(settings: RegistrySettings): Promise<void>;
  close(): Promise<void>;
}

/** What a test sets beyond wrangler.toml: [vars] overrides, and secrets besides TOKEN_SECRET. */
export interface RegistrySettings {
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
}

export async function startLocalRegistry(settings: RegistrySettings = {}): Promise<LocalRegistry> {
  // Local workerd cannot fetch Cloudflare's request metadata here; the placeholder is fine.
  process.env["CLOUDFLARE_CF_FETCH_ENABLED"] ??= "false";
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const tokenSecret = randomBytes(32).toString("hex");
  const options = ({ vars, secrets }: RegistrySettings) => ({
    root,
    workers: [{ configPath: "./wrangler.toml", vars, secrets: { TOKEN_SECRET: tokenSecret, ...secrets } }],
  });
  const harness = createTestHarness(options(settings));
  const { url } = await harness.listen();
  await harness.getWorker().applyD1Migrations("DB");
  return { url: url.origin, harness, reconfigure: (next) => harness.update(options(next)), close: () => harness.close() };
}

/** A person with an account and an API token, who manages networks over the HTTP API. */
export class Operator {
  readonly registry: string;
  readonly apiToken: string;
  /** The session cookie of the sign-up (`pilot_session=…`): the console's own requests need it. */
  readonly cookie: string;

  constructor(registry: string, apiToken: string, cookie: string) {
    this.registry = registry;
    this.apiToken = apiToken;
    this.cookie = cookie;
  }

  static async signUp(registry: string): Promise<Operator> {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(new URL(path, registry), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    const signUp = await post("/v1/accounts", { email: `op-${randomUUID()}@example.com`, password: "correct horse battery" });
    const session = (await signUp.json()) as { csrf_token: string };
    const cookie = /pilot_session=[^;]+/.exec(signUp.headers.get("set-cookie") ?? "")![0];
    const token = await post("/v1/account/tokens", { name: "tests" }, { cookie, "x-csrf-token": session.csrf_token });
    return new Operator(registry, ((await token.json()) as { token: string }).token, cookie);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(new URL(path, this.registry), {
      method,
      headers: { authorization: `Bearer ${this.apiToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  createNetwork(joinRule: "token" | "invite" = "token"): Promise<Network> {
    return this.request("POST", "/v1/networks", { name: `net-${randomUUID().slice(0, 8)}`, join_rule: joinRule });
  }

  /** A reusable enrollment key: daemons started with `--enroll` it become nodes of this account. */
  async enrollmentKey(): Promise<string> {
    return (await this.request<{ key: string }>("POST", "/v1/account/enrollment-keys", { description: "tests", reusable: true })).key;
  }
}
