/**
 * Node certificates end to end: a real registry signs them, real daemons carry them in their key
 * exchanges, and a public node takes a private stranger's key from its certificate instead of the
 * registry (which will not show a private node to a stranger).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CERTIFICATE_CLOCK_SKEW_MS } from "../../src/crypto/certificate.ts";
import { peerInfo } from "../../src/dataplane/tunnel/peer-directory.ts";
import { Identity } from "../../src/identity.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import { Pilot } from "../../src/sdk/pilot.ts";
import { befriend, SLOW_TEST_MS, waitFor } from "../wait.ts";
import { Cluster, type Daemon } from "./cluster.ts";
import { countingProxy, type CountingProxy } from "./counting-proxy.ts";
import { impersonate } from "./rogue.ts";

/** Certificates last 10 s here (daemons renew them every 5 s), so one can be seen to expire. */
const TTL_SECONDS = 10;

const cluster = new Cluster();
let window: CountingProxy;
beforeAll(async () => {
  await cluster.start({ vars: { CERT_TTL_SECONDS: String(TTL_SECONDS) } });
  window = await countingProxy(cluster.registry.url);
}, 60_000);
afterAll(async () => {
  await cluster.stop();
  await window?.close();
}, 60_000);

async function inbox(d: Daemon, port: number) {
  const pilot = await Pilot.connect(d.home);
  const got: { node_id: number; data: string }[] = [];
  await pilot.receiveDatagrams(port, (m) => got.push({ node_id: m.nodeId, data: m.data.toString() }));
  return { got, close: () => pilot.close() };
}

describe("a public node", () => {
  it(
    "accepts a tunnel from a private stranger on the strength of its certificate, without asking the registry about it",
    async () => {
      // The public node talks to the registry through the window, so every request it makes is seen.
      const pub = await cluster.daemon("cert-public", "--public", "--registry", window.url);
      const stranger = await cluster.daemon("cert-stranger");
      const box = await inbox(pub, 1001);
      expect(await stranger.run("send-datagram", String(pub.nodeId), "1001", "--data", "from a stranger")).toMatchObject({ node_id: pub.nodeId });
      await waitFor(() => box.got.some((m) => m.data === "from a stranger"), "the stranger's datagram at the public node");
      expect(box.got).toEqual([{ node_id: stranger.nodeId, data: "from a stranger" }]);
      // The window saw the public node's own calls, and not one resolve.
      expect(window.requests).toContain("POST /v1/nodes/self/certificate");
      expect(window.requests.filter((r) => r.includes("/v1/resolve/"))).toEqual([]);
      box.close();
    },
    SLOW_TEST_MS,
  );

  it(
    "accepts a deregistered node's certificate until it expires, and not after",
    async () => {
      const pub = await cluster.daemon("cert-public-2", "--public");
      const gone = await cluster.daemon("cert-gone");
      const box = await inbox(pub, 1001);
      await gone.stop();
      // Someone holding the node's key keeps its last certificate and a tunnel layer, and the node deregisters.
      const client = new RegistryClient({ url: cluster.registry.url, identity: Identity.fromSeed(gone.identitySeed()) });
      const issued = await client.certificate();
      const where = peerInfo(await client.resolve(pub.nodeId));
      const rogue = await impersonate(cluster.registry.url, gone, undefined, () => Buffer.from(issued.certificate, "base64"));
      await client.deregister();

      // The public node cannot look the node up any more: only the certificate gets it in.
      rogue.learn(where);
      await rogue.sendDatagram(pub.nodeId, 1, 1001, Buffer.from("before expiry"));
      await waitFor(() => box.got.some((m) => m.data === "before expiry"), "the datagram sent before the certificate expired");

      // Past the expiry and the clock allowance, a fresh exchange with the same certificate is dropped.
      const expired = Date.parse(issued.expires_at) + CERTIFICATE_CLOCK_SKEW_MS;
      await waitFor(() => Date.now() > expired, "the certificate to expire", expired - Date.now() + 10_000, 250);
      rogue.drop(pub.nodeId);
      rogue.learn(where);
      await expect(rogue.sendDatagram(pub.nodeId, 1, 1001, Buffer.from("after expiry"))).rejects.toMatchObject({ code: "no_path" });
      expect(box.got.map((m) => m.data)).toEqual(["before expiry"]);
      rogue.close();
      box.close();
    },
    SLOW_TEST_MS,
  );
});

describe("a private node", () => {
  it(
    "takes a trusted peer's key from its certificate, but while its channel is down asks the registry afresh, so a trust ended meanwhile is refused",
    async () => {
      const path = await countingProxy(cluster.registry.url);
      const a = await cluster.daemon("cert-private-a", "--registry", path.url);
      const b = await cluster.daemon("cert-private-b");
      await befriend(a, b, "certificates please");
      const box = await inbox(a, 1001);
      // B's key in a tunnel layer of its own, with B's certificate, and where A is (seen while trusted).
      const client = new RegistryClient({ url: cluster.registry.url, identity: Identity.fromSeed(b.identitySeed()) });
      const issued = await client.certificate();
      const where = peerInfo(await client.resolve(a.nodeId));
      const rogue = await impersonate(cluster.registry.url, b, undefined, () => Buffer.from(issued.certificate, "base64"));
      const resolvesOfB = () => path.requests.filter((r) => r === `GET /v1/resolve/${b.nodeId}`).length;

      rogue.learn(where);
      await rogue.sendDatagram(a.nodeId, 1, 1001, Buffer.from("while trusted"));
      await waitFor(() => box.got.some((m) => m.data === "while trusted"), "B's datagram while trusted");
      expect(resolvesOfB()).toBe(0);

      // A's channels fail (its HTTPS calls still pass), and B ends the trust meanwhile: A does not hear.
      path.cutChannels();
      await waitFor(() => readFileSync(join(a.home, "pilot.log"), "utf8").includes("node channel lost"), "A to lose its node channel");
      await b.run("untrust", String(a.nodeId));
      rogue.drop(a.nodeId);
      rogue.learn(where);
      await expect(rogue.sendDatagram(a.nodeId, 1, 1001, Buffer.from("after the trust ended"))).rejects.toMatchObject({ code: "no_path" });
      expect(resolvesOfB()).toBeGreaterThan(0);
      expect(box.got.map((m) => m.data)).toEqual(["while trusted"]);
      path.restoreChannels();
      rogue.close();
      box.close();
      await a.stop();
      await path.close();
    },
    SLOW_TEST_MS,
  );
});
