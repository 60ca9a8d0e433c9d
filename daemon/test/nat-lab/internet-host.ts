/**
 * The lab's server on the internet, run inside the internet namespace as a program of its own
 * (`ip netns exec <ns> node internet-host.ts <ipv4> <ipv6>`): the real registry (the Worker in
 * workerd) on port 80 of every address of the namespace, and STUN responders on two UDP ports of
 * the IPv4 address and one of the IPv6 address. Prints one `ready {json}` line once all of them
 * answer, and stops when its standard input closes.
 *
 * workerd listens on loopback only (wrangler's test harness fixes that), so a TCP relay on port 80
 * carries the connections to it. The registry's public origin is `http://<ipv4>`, the URL daemons
 * are given: the test process reaches the registry at another address (the lab's uplink), and the
 * origin in proofs and join URLs must not depend on which one a client used.
 */
import { createConnection, createServer, type Socket } from "node:net";
import { startStunResponder } from "../../src/net/stun-client.ts";
import { startLocalRegistry } from "../local-registry.ts";

const REGISTRY_PORT = 80;
const STUN_PORTS = [3478, 3479] as const;

export interface InternetHostReady {
  registryUrl: string;
  stun: string;
  stun2: string;
  stun6: string;
}

async function main(ipv4: string, ipv6: string): Promise<void> {
  const registryUrl = `http://${ipv4}`;
  const registry = await startLocalRegistry({ vars: { PUBLIC_ORIGIN: registryUrl } });
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
  };
  process.stdout.write(`ready ${JSON.stringify(ready)}\n`);

  process.stdin.resume();
  process.stdin.on("end", () => {
    relay.close();
    for (const s of open) s.destroy();
    void Promise.all([...stuns.map((s) => s.close()), registry.close()]).then(() => process.exit(0));
  });
}

const [ipv4, ipv6] = process.argv.slice(2);
if (!ipv4 || !ipv6) {
  process.stderr.write("usage: internet-host.ts <ipv4> <ipv6>\n");
  process.exit(2);
}
main(ipv4, ipv6).catch((e: unknown) => {
  process.stderr.write(`internet host failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
