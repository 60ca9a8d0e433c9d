/**
 * A client that holds a daemon's identity key but none of its state: it keeps using a tunnel after
 * its daemon would have given it up, and sends whatever a test crafts, so tests see what the
 * *receiving* daemon enforces.
 */
import { Identity } from "../../src/identity.ts";
import { peerInfo } from "../../src/dataplane/tunnel/peer-directory.ts";
import { Tunnels } from "../../src/dataplane/tunnel/tunnels.ts";
import type { Packet } from "../../src/wire/packet.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import type { Daemon } from "./cluster.ts";

export async function impersonate(
  registryUrl: string,
  d: Daemon,
  onStream?: (peer: number, packet: Packet) => void,
  /** A certificate to present in key exchanges, kept however long the test likes. */
  certificate?: () => Buffer | null,
): Promise<Tunnels> {
  const identity = Identity.fromSeed(d.identitySeed());
  const registry = new RegistryClient({ url: registryUrl, identity });
  await registry.authenticate();
  const tunnels = new Tunnels({
    identity,
    me: () => d.nodeId,
    allowed: () => true,
    lookup: (peer) => registry.resolve(peer).then(peerInfo, () => null),
    requestPath: (peer) => registry.requestPath(peer).then(peerInfo, () => null),
    onDatagram: () => undefined,
    onStream,
    certificate,
  });
  await tunnels.bind("127.0.0.1", 0);
  return tunnels;
}
