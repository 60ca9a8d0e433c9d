/**
 * A stranger on the registry's relay, for the lab's scenarios, run inside an agent's namespace
 * (`node relay-stranger.ts <registry URL>`): it registers a fresh identity (a node that shares
 * nothing with anyone), opens its relay connection as a daemon would, and then does what its stdin
 * says, one JSON line at a time: `{"send":{"to":N,"count":C}}` sends C frames dressed as tunnel
 * frames (a fake key exchange and a fake sealed frame, in turn) to node N. It says `ready
 * {"node_id"}` once its relay connection is up, `{"sent":{"to","count"}}` after each burst, and
 * `{"heard":{"from","bytes"}}` for anything the relay hands it. It ends when stdin closes.
 */
import { createInterface } from "node:readline";
import { Identity } from "../../src/identity.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import { PILA, PILS } from "../../src/wire/tunnel.ts";

const say = (event: unknown) => process.stdout.write(`${JSON.stringify(event)}\n`);

const [registryUrl] = process.argv.slice(2);
if (!registryUrl) {
  process.stderr.write("usage: relay-stranger.ts <registry URL>\n");
  process.exit(2);
}
const registry = new RegistryClient({ url: registryUrl, identity: Identity.generate() });
const { node } = await registry.register();
const link = registry.relayLink({ onFrame: (from, frame) => say({ heard: { from, bytes: frame.length } }) }).start();
while (!link.up) await new Promise((r) => setTimeout(r, 20));
process.stdout.write(`ready ${JSON.stringify({ node_id: node.node_id })}\n`);

const frames = [Buffer.concat([PILA, Buffer.alloc(160, 1)]), Buffer.concat([PILS, Buffer.alloc(80, 2)])];
const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  const { send } = JSON.parse(line) as { send: { to: number; count: number } };
  for (let i = 0; i < send.count; i++) link.send(send.to, frames[i % frames.length]!);
  say({ sent: { to: send.to, count: send.count } });
});
input.on("close", () => {
  link.close();
  process.exit(0);
});
