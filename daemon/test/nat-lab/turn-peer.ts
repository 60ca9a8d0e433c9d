/**
 * A TURN client program for the lab's TURN test, run inside an agent's namespace
 * (`node turn-peer.ts <registry URL>`): a node of its own at the registry, whose credentials come
 * from POST /v1/relay/turn, and the daemon's TURN client on one UDP socket, driven by JSON lines on
 * stdin and telling what happens as JSON lines on stdout. Not a daemon: it shows the relay's
 * plumbing through NATs before the daemon uses it.
 *
 * Commands: `{"allocate":true}` gets credentials and allocates on the first TURN server named;
 * `{"permit":"ip"}`; `{"bind":"host:port"}`; `{"send":{"to":"host:port","data":"…"}}`.
 * Events: `ready {}`; `{"allocated":{"urls","relayed","mapped"}}`; `{"permitted":ip}`;
 * `{"bound":{"peer","channel"}}`; `{"sent":{"to","ok"}}`; `{"received":{"from","data","kind"}}`
 * (`kind` is "channel" for ChannelData, "indication" for a Data indication); `{"error":{"code","message"}}`.
 * Closing stdin deletes the allocation and ends it.
 */
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { parseTurnUrl } from "@pilot/protocol";
import { Identity } from "../../src/identity.ts";
import { parseHostPort } from "../../src/net/host-port.ts";
import { TurnClient } from "../../src/net/turn/client.ts";
import { looksLikeChannelData } from "../../src/net/turn/messages.ts";
import { RegistryClient } from "../../src/registry-client.ts";

type Command = { allocate: true } | { permit: string } | { bind: string } | { send: { to: string; data: string } };

const say = (event: unknown) => process.stdout.write(`${JSON.stringify(event)}\n`);
const at = (p: { address: string; port: number }) => `${p.address}:${p.port}`;
const peerOf = (text: string) => {
  const { host, port } = parseHostPort(text);
  return { address: host, port };
};

const registryUrl = process.argv[2];
if (!registryUrl) {
  process.stderr.write("usage: turn-peer.ts <registry URL>\n");
  process.exit(2);
}
const socket = createSocket("udp4");
const turn = new TurnClient({ send: (bytes, host, port) => socket.send(bytes, port, host) });
// The kind of the datagram being handed to the client, for the received event it may cause.
let kind: "channel" | "indication" = "indication";
turn.onData((from, bytes) => say({ received: { from: at(from), data: bytes.toString(), kind } }));
socket.on("message", (msg, from) => {
  const server = turn.server;
  if (!server || from.address !== server.host || from.port !== server.port) return;
  kind = looksLikeChannelData(msg) ? "channel" : "indication";
  turn.receive(msg);
});

async function handle(command: Command): Promise<void> {
  if ("allocate" in command) {
    const registry = new RegistryClient({ url: registryUrl!, identity: Identity.generate() });
    await registry.register();
    const creds = await registry.turnCredentials();
    const server = parseTurnUrl(creds.urls[0]!)!;
    const allocation = await turn.allocate(server, creds.username, creds.credential);
    say({ allocated: { urls: creds.urls, relayed: at(allocation.relayed), mapped: at(allocation.mapped) } });
  } else if ("permit" in command) {
    await turn.permit(command.permit);
    say({ permitted: command.permit });
  } else if ("bind" in command) {
    say({ bound: { peer: command.bind, channel: await turn.bind(peerOf(command.bind)) } });
  } else {
    say({ sent: { to: command.send.to, ok: turn.send(peerOf(command.send.to), Buffer.from(command.send.data)) } });
  }
}

socket.bind(0, "0.0.0.0", () => {
  say({ ready: {} });
  // One command at a time, in order; a failure is reported and the next command still runs.
  let queue = Promise.resolve();
  createInterface({ input: process.stdin })
    .on("line", (line) => {
      queue = queue.then(() => handle(JSON.parse(line) as Command)).catch((e: unknown) => {
        say({ error: { code: (e as { code?: string }).code ?? "error", message: (e as Error).message } });
      });
    })
    .on("close", () => void queue.then(() => turn.close()).then(() => socket.close()));
});
