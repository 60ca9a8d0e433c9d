/**
 * The lab's server on the internet, run inside the internet namespace as a program of its own
 * (`ip netns exec <ns> node internet-host.ts <ipv4> <ipv6> [--turn]`): the real registry (the Worker
 * in workerd) on port 80 of every address of the namespace, and STUN responders on two UDP ports of
 * the IPv4 address and one of the IPv6 address. With `--turn`, also a TURN server (coturn) on the
 * IPv4 address, relaying from it, and a stand-in of Cloudflare's TURN credential API on the
 * namespace's loopback that mints credentials for it; the registry is configured with a TURN key
 * for that API, as an operator configures one for Cloudflare's. Prints one `ready {json}` line once
 * all of them answer, and stops when its standard input closes.
 *
 * workerd listens on loopback only (wrangler's test harness fixes that), so a TCP relay on port 80
 * carries the connections to it. The registry's public origin is `http://<ipv4>`, the URL daemons
 * are given: the test process reaches the registry at another address (the lab's uplink), and the
 * origin in proofs and join URLs must not depend on which one a client used.
 */
import { randomBytes } from "node:crypto";
import { createConnection, createServer, type Socket } from "node:net";
import { startStunResponder } from "../../src/net/stun-client.ts";
import { startLocalRegistry, type RegistrySettings } from "../local-registry.ts";
import { serveCredentialApi } from "../turn/credential-api.ts";
import { startCoturn } from "../turn/coturn.ts";

const REGISTRY_PORT = 80;
const STUN_PORTS = [3478, 3479] as const;
/** Next to STUN's two ports (Cloudflare's TURN shares 3478 with its STUN; here a responder of our own has it). */
const TURN_PORT = 3480;

export interface InternetHostReady {
  registryUrl: string;
  stun: string;
  stun2: string;
  stun6: string;
  /** The TURN server, `ip:port`, when the host was started with one. */
  turn?: string;
}

/** coturn and the credential API for it, and the registry settings that point the registry there. */
async function startTurn(ipv4: string): Promise<{ settings: Required<RegistrySettings>; close(): Promise<void> }> {
  const coturn = await startCoturn({ address: ipv4, port: TURN_PORT });
  const key = { keyId: "lab-turn-key", apiToken: randomBytes(16).toString("hex") };
  // Cloudflare lists TCP and TLS servers too; the registry must hand out the UDP one alone.
  const turnUrls = [`turn:${ipv4}:${TURN_PORT}?transport=udp`, `turn:${ipv4}:${TURN_PORT}?transport=tcp`, `turns:${ipv4}:5349?transport=tcp`];
  const api = await serveCredentialApi({ ...key, secret: coturn.secret, turnUrls }, "127.0.0.1");
  return {
    settings: { vars: { TURN_KEY_ID: key.keyId, TURN_API_ORIGIN: api.origin }, secrets: { TURN_KEY_API_TOKEN: key.apiToken } },
    close: async () => {
      await api.close();
      await coturn.close();
    },
  };
}

async function main(ipv4: string, ipv6: string, withTurn: boolean): Promise<void> {
  const registryUrl = `http://${ipv4}`;
  const turn = withTurn ? await startTurn(ipv4) : undefined;
  const registry = await startLocalRegistry({ vars: { PUBLIC_ORIGIN: registryUrl, ...turn?.settings.vars }, secrets: turn?.settings.secrets });
  const target = new URL(registry.url);
  const open = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => (s === client ? upstream : client).destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  // `::` takes IPv4 connections too (as mapped addresses): one relay for both families.
  await new Promise<void>((resolve, reject) => relay.once("error", reject).listen(REGISTRY_PORT, "::", resolve));
  const stuns = await Promise.all([...STUN_PORTS.map((port) => startStunResponder(port, ipv4)), startStunResponder(STUN_PORTS[0], ipv6)]);

  const ready: InternetHostReady = {
    registryUrl,
    stun: `${ipv4}:${STUN_PORTS[0]}`,
    stun2: `${ipv4}:${STUN_PORTS[1]}`,
    stun6: `[${ipv6}]:${STUN_PORTS[0]}`,
    ...(turn ? { turn: `${ipv4}:${TURN_PORT}` } : {}),
  };
  process.stdout.write(`ready ${JSON.stringify(ready)}\n`);

  process.stdin.resume();
  process.stdin.on("end", () => {
    relay.close();
    for (const s of open) s.destroy();
    void Promise.all([...stuns.map((s) => s.close()), registry.close(), turn?.close()]).then(() => process.exit(0));
  });
}

const [ipv4, ipv6, flag] = process.argv.slice(2);
if (!ipv4 || !ipv6 || (flag !== undefined && flag !== "--turn")) {
  process.stderr.write("usage: internet-host.ts <ipv4> <ipv6> [--turn]\n");
  process.exit(2);
}
main(ipv4, ipv6, flag === "--turn").catch((e: unknown) => {
  process.stderr.write(`internet host failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
