/**
 * TURN credentials from end to end on one machine: the daemon's registry client asks a real local
 * registry, which asks a stand-in of Cloudflare's credential API over HTTP, whose credentials a
 * real coturn with the same secret accepts.
 */
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTurnUrl } from "@pilot/protocol";
import { Identity } from "../src/identity.ts";
import { RegistryClient, RegistryError } from "../src/registry-client.ts";
import { TurnClient } from "../src/net/turn/client.ts";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";
import { serveCredentialApi } from "./turn/credential-api.ts";
import { coturnUnavailable, startCoturn, type Coturn } from "./turn/coturn.ts";
import { SLOW_TEST_MS } from "./wait.ts";

const unavailable = await coturnUnavailable();
if (unavailable) console.warn(`TURN credential tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)("TURN credentials from the registry", () => {
  let registry: LocalRegistry;
  let coturn: Coturn;
  let api: Awaited<ReturnType<typeof serveCredentialApi>>;
  const key = { keyId: "lab-key", apiToken: randomBytes(16).toString("hex") };

  beforeAll(async () => {
    coturn = await startCoturn();
    api = await serveCredentialApi({ ...key, secret: coturn.secret, turnUrls: [`turn:127.0.0.1:${coturn.server.port}?transport=udp`, `turns:127.0.0.1:5349`] }, "127.0.0.1");
    registry = await startLocalRegistry();
  }, 120_000);
  afterAll(async () => {
    await registry?.close();
    await api?.close();
    await coturn?.close();
  });

  it("are turn_not_configured from a registry without a TURN key", async () => {
    const client = new RegistryClient({ url: registry.url, identity: Identity.generate() });
    await client.register();
    const e = await client.turnCredentials().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RegistryError);
    expect(e).toMatchObject({ status: 404, code: "turn_not_configured" });
  });

  it("are minted through the credential API and allocate on the TURN server", async () => {
    await registry.reconfigure({ vars: { TURN_KEY_ID: key.keyId, TURN_API_ORIGIN: api.origin }, secrets: { TURN_KEY_API_TOKEN: key.apiToken } });
    const client = new RegistryClient({ url: registry.url, identity: Identity.generate() });
    await client.register();
    const creds = await client.turnCredentials();
    expect(creds.urls).toEqual([`turn:127.0.0.1:${coturn.server.port}?transport=udp`]);
    const socket = createSocket("udp4");
    const turn = new TurnClient({ send: (bytes, host, port) => socket.send(bytes, port, host) });
    socket.on("message", (msg) => turn.receive(msg));
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    try {
      const server = parseTurnUrl(creds.urls[0]!)!;
      expect((await turn.allocate(server, creds.username, creds.credential)).relayed.address).toBe("127.0.0.1");
    } finally {
      await turn.close();
      socket.close();
    }
  }, SLOW_TEST_MS);
});
