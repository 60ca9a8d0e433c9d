/**
 * A plain UDP program for the lab's own tests, run inside an agent's namespace
 * (`node udp-peer.ts <bind address> [--reply]`): one socket, driven by JSON lines on stdin, telling
 * what happens as JSON lines on stdout. No Pilot code: it shows what the NATs themselves let through.
 *
 * Commands: `{"stun":"host:port"}` asks a STUN server for this socket's public mapping;
 * `{"send":{"to":"host:port","data":"…","count":N,"intervalMs":M}}` sends N datagrams, M ms apart
 * (`"hex":true` when data is bytes in hex; `"untilHeard":true` stops early once a datagram from
 * `to` has arrived, as a hole punch does).
 * Events: `ready {"port"}` once bound; `{"mapped":{"server","address","port"}}` (address null when
 * no answer came); `{"sent":{"to","count"}}` after a burst; `{"received":{"from","data"}}` for every
 * other datagram. With `--reply` it answers every datagram that is not itself an answer
 * ("reply to …") to its sender, as a careless service would.
 */
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { parseHostPort } from "../../src/net/host-port.ts";
import { queryStun } from "../../src/net/stun-client.ts";
import { familyOf, looksLikeStun } from "../../src/net/stun.ts";

type Command = { stun: string } | { send: { to: string; data: string; hex?: boolean; count: number; intervalMs: number; untilHeard?: boolean } };

const say = (event: unknown) => process.stdout.write(`${JSON.stringify(event)}\n`);
const endpoint = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

const [bindAddress, flag] = process.argv.slice(2);
if (!bindAddress || (flag !== undefined && flag !== "--reply")) {
  process.stderr.write("usage: udp-peer.ts <bind address> [--reply]\n");
  process.exit(2);
}
const reply = flag === "--reply";
const socket = createSocket(familyOf(bindAddress) === 6 ? "udp6" : "udp4");
let onStun: ((msg: Buffer) => void) | undefined;
const heardFrom = new Set<string>();

socket.on("message", (msg, from) => {
  if (looksLikeStun(msg)) return onStun?.(msg);
  const data = msg.toString();
  heardFrom.add(endpoint(from.address, from.port));
  say({ received: { from: endpoint(from.address, from.port), data } });
  if (reply && !data.startsWith("reply to ")) socket.send(`reply to ${data}`, from.port, from.address);
});

async function handle(command: Command): Promise<void> {
  if ("stun" in command) {
    const query = queryStun(socket, parseHostPort(command.stun), 5_000);
    onStun = query.onDatagram;
    const mapped = await query.result;
    onStun = undefined;
    say({ mapped: { server: command.stun, address: mapped?.address ?? null, port: mapped?.port ?? null } });
    return;
  }
  const { to, count, intervalMs, untilHeard } = command.send;
  const data = command.send.hex ? Buffer.from(command.send.data, "hex") : command.send.data;
  const target = parseHostPort(to);
  let sent = 0;
  for (; sent < count && !(untilHeard && heardFrom.has(to)); sent++) {
    if (sent > 0) await new Promise((r) => setTimeout(r, intervalMs));
    socket.send(data, target.port, target.host);
  }
  say({ sent: { to, count: sent } });
}

socket.bind(0, bindAddress, () => {
  say({ ready: { port: socket.address().port } });
  // One command at a time, in order: a STUN query finishes before the next command starts.
  let queue = Promise.resolve();
  createInterface({ input: process.stdin })
    .on("line", (line) => (queue = queue.then(() => handle(JSON.parse(line) as Command))))
    .on("close", () => void queue.then(() => socket.close()));
});
