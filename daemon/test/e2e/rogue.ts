/**
 * A client that holds a daemon's identity key but none of its state: it keeps using a tunnel after
 * its daemon would have given it up, and sends whatever a test crafts, so tests see what the
 * *receiving* daemon enforces.
 */
import { Identity } from "../../src/identity.ts";
import { Tunnels } from "../../src/dataplane/tunnel/tunnels.ts";
import type { Packet } from "../../src/wire/packet.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import type { Daemon } from "./cluster.ts";

export async function impersonate(registryUrl: string, d: Daemon, onStream?: (peer: number, packet: Packet) => void): Promise<Tunnels> {
  const identity = Identity.fromSeed(d.identitySeed());
  const registry = new RegistryClient({ url: registryUrl, identity });
  await registry.authenticate();
  const tunnels = new Tunnels({
    identity,
    me: () => d.nodeId,
    allowed: () => true,
    lookup: async (peer) => {
      const n = await registry.resolve(peer).catch(() => null);
      if (!n) return null;
      const endpoints = [n.endpoint, ...n.lan_addrs].flatMap((e) => (e ? [{ address: e.split(":")[0]!, port: Number(e.split(":")[1]) }] : []));
      return { nodeId: n.node_id, publicKey: Buffer.from(n.public_key, "base64"), endpoints };
    },
    onDatagram: () => undefined,
    onStream,
  });
  await tunnels.bind("127.0.0.1", 0);
  return tunnels;
}
