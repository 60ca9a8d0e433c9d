/**
 * Key exchanges that carry node certificates, between in-process tunnels on real UDP sockets: a
 * valid certificate gives the sender's key without asking the registry, and every bad one a
 * stranger can send changes nothing and draws no reply.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATE_CLOCK_SKEW_MS, verifyCertificate } from "../src/crypto/certificate.ts";
import { newEphemeral } from "../src/crypto/keys.ts";
import type { DatagramIn } from "../src/dataplane/datagrams.ts";
import { Tunnels, type PeerInfo } from "../src/dataplane/tunnel/tunnels.ts";
import { Identity } from "../src/identity.ts";
import { helloBody, helloSigningInput } from "../src/wire/tunnel.ts";
import { TEN_MINUTES, TestSigner } from "./certificate-signer.ts";
import { waitFor } from "./wait.ts";

const open: { close(): void }[] = [];
afterEach(() => open.splice(0).forEach((t) => t.close()));

const registry = new TestSigner();
/** What the registry shows anyone: public nodes only. A private stranger is not in it. */
const visible = new Map<number, PeerInfo>();

interface Node {
  id: number;
  identity: Identity;
  key: Buffer;
  tunnels: Tunnels;
  port: number;
  got: DatagramIn[];
  lookups: number[];
}

async function node(id: number, options: { allowed: (peer: number) => boolean; visible?: boolean; certificate?: () => Buffer | null }): Promise<Node> {
  const identity = Identity.generate();
  const key = Buffer.from(identity.publicKey, "base64");
  const got: DatagramIn[] = [];
  const lookups: number[] = [];
  const tunnels = new Tunnels({
    identity,
    me: () => id,
    allowed: options.allowed,
    lookup: async (peer) => {
      lookups.push(peer);
      return visible.get(peer) ?? null;
    },
    requestPath: async (peer) => visible.get(peer) ?? null,
    certificate: options.certificate ?? (() => registry.certify(id, key)),
    vouchedKey: async (certificate, peer) => verifyCertificate(certificate, { keys: registry.keyring(), now: Date.now(), sender: peer })?.publicKey ?? null,
    onDatagram: (d) => got.push(d),
  });
  const { port } = (await tunnels.bind("127.0.0.1", 0)).v4;
  open.push(tunnels);
  if (options.visible) visible.set(id, { nodeId: id, publicKey: key, endpoints: [{ address: "127.0.0.1", port }] });
  return { id, identity, key, tunnels, port, got, lookups };
}

const publicNode = (id: number) => node(id, { allowed: () => true, visible: true });

/** A socket a stranger crafts hellos on, keeping every frame sent back to it. */
async function strangerSocket(): Promise<{ socket: Socket; replies: Buffer[] }> {
  const socket = createSocket("udp4");
  open.push(socket);
  const replies: Buffer[] = [];
  socket.on("message", (msg) => replies.push(msg));
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return { socket, replies };
}

/** An initiation from `sender` to `receiver`, carrying `certificate`, signed by `by`. */
function initiation(by: Identity, sender: number, receiver: number, certificate: Buffer | null, time = Date.now()): Buffer {
  const body = helloBody("initiate", sender, receiver, time, newEphemeral().publicKey, undefined, certificate);
  return Buffer.concat([body, Buffer.from(by.sign(helloSigningInput(body)), "base64")]);
}

/** Sends a frame to `to` and waits until it has been dropped. */
async function dropped(to: Node, from: Socket, frame: Buffer): Promise<void> {
  const before = to.tunnels.stats.dropped;
  from.send(frame, to.port, "127.0.0.1");
  await waitFor(() => to.tunnels.stats.dropped > before, "the hello to be dropped");
}

describe("a key exchange with a certificate", () => {
  it("gives a public node a private stranger's key without asking the registry, and the tunnel carries datagrams", async () => {
    const pub = await publicNode(301);
    const stranger = await node(302, { allowed: (peer) => peer === 301 });
    await stranger.tunnels.sendDatagram(301, 1, 7, Buffer.from("hello from nobody you know"));
    await waitFor(() => pub.got.length === 1, "the stranger's datagram");
    expect(pub.got[0]).toMatchObject({ from: 302, payload: Buffer.from("hello from nobody you know") });
    expect(pub.lookups).toEqual([]);
    // Without a certificate, the same stranger is what it was before: unknown, and refused.
    const uncertified = await node(303, { allowed: () => true, certificate: () => null });
    await expect(uncertified.tunnels.sendDatagram(301, 1, 7, Buffer.from("no certificate"))).rejects.toMatchObject({ code: "no_path" });
    expect(pub.lookups).toEqual([303]);
    expect(pub.got).toHaveLength(1);
  });

  it("lets nobody past a private node's own rules: a valid certificate gives a key, not access", async () => {
    const privateNode = await node(311, { allowed: () => false });
    const { socket, replies } = await strangerSocket();
    const stranger = Identity.generate();
    await dropped(privateNode, socket, initiation(stranger, 312, 311, registry.certify(312, stranger.publicKey)));
    expect(replies).toEqual([]);
    expect(privateNode.tunnels.peers()).toEqual([]);
    expect(privateNode.lookups).toEqual([]);
  });

  it("still lets a peer the registry shows in without a valid certificate, by looking its key up", async () => {
    const pub = await publicNode(321);
    const expired = () => registry.certify(322, other.key, { issuedAt: Date.now() - 2 * TEN_MINUTES, expiresAt: Date.now() - TEN_MINUTES });
    const other: Node = await node(322, { allowed: () => true, visible: true, certificate: () => expired() });
    await other.tunnels.sendDatagram(321, 1, 7, Buffer.from("looked up"));
    await waitFor(() => pub.got.length === 1, "the datagram");
    expect(pub.lookups).toEqual([322]);
  });

  describe("is dropped without a reply, leaving no tunnel, when the certificate", () => {
    const stranger = Identity.generate();
    const forger = new TestSigner();
    const someoneElse = Identity.generate();
    const longAgo = Date.now() - 2 * TEN_MINUTES;
    it.each<[string, () => { by: Identity; certificate: Buffer }]>([
      ["expired, past the clock allowance", () => ({ by: stranger, certificate: registry.certify(332, stranger.publicKey, { issuedAt: longAgo, expiresAt: Date.now() - CERTIFICATE_CLOCK_SKEW_MS - 1000 }) })],
      ["was signed by another key under the registry's key id", () => ({ by: stranger, certificate: forger.certify(332, stranger.publicKey, { keyId: registry.keyId }) })],
      ["was signed by a key the node does not hold", () => ({ by: stranger, certificate: forger.certify(332, stranger.publicKey) })],
      ["is another node's", () => ({ by: stranger, certificate: registry.certify(333, stranger.publicKey) })],
      ["is for another key than the one that signed the hello", () => ({ by: stranger, certificate: registry.certify(332, someoneElse.publicKey) })],
      ["is the sender's own, but the hello was signed by someone who copied it", () => ({ by: someoneElse, certificate: registry.certify(332, stranger.publicKey) })],
      ["is 129 bytes of noise", () => ({ by: stranger, certificate: Buffer.alloc(129, 0x5a) })],
    ])("%s", async (_, make) => {
      const pub = await publicNode(331);
      const { socket, replies } = await strangerSocket();
      const { by, certificate } = make();
      await dropped(pub, socket, initiation(by, 332, 331, certificate));
      expect(replies).toEqual([]);
      expect(pub.tunnels.peers()).toEqual([]);
      expect(pub.got).toEqual([]);
      // With no valid certificate, the node asked the registry as it always did, and it found nothing.
      expect(pub.lookups).toEqual([332]);
    });
  });

  it("is answered once, and its replay is dropped without a reply", async () => {
    const pub = await publicNode(341);
    const { socket, replies } = await strangerSocket();
    const stranger = Identity.generate();
    const frame = initiation(stranger, 342, 341, registry.certify(342, stranger.publicKey));
    socket.send(frame, pub.port, "127.0.0.1");
    await waitFor(() => replies.length === 1, "the answer");
    const tunnels = () => pub.tunnels.peers().map((p) => p.nodeId);
    expect(tunnels()).toEqual([342]);
    const sessions = pub.tunnels.stats.peers;
    await dropped(pub, socket, frame);
    // One reply and nothing since: in particular no path MTU probe, which waits for a sealed packet
    // from the peer (the hello's source address may be forged, and probes are large).
    expect(replies).toHaveLength(1);
    expect(tunnels()).toEqual([342]);
    expect(pub.tunnels.stats.peers).toBe(sessions);
    expect(pub.lookups).toEqual([]);
  });

  it("is refused, as malformed, with a certificate length other than 0 or 129", async () => {
    const pub = await publicNode(351);
    const { socket, replies } = await strangerSocket();
    const stranger = Identity.generate();
    const frame = initiation(stranger, 352, 351, registry.certify(352, stranger.publicKey));
    for (const length of [1, 128, 130, 255]) {
      const bent = Buffer.from(frame);
      bent[86] = length;
      await dropped(pub, socket, bent);
    }
    await dropped(pub, socket, frame.subarray(0, frame.length - 1));
    expect(replies).toEqual([]);
    expect(pub.lookups).toEqual([]);
  });
});
