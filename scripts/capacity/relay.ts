/**
 * The relay's throughput into one node's object (docs/relay.md): `senders` simulated agents each
 * hold a relay connection and send sealed-looking tunnel frames (the `PILS` magic, 16 KiB each, four
 * to a message) as fast as their sockets take them, to one public receiver; we count what reaches
 * the receiver's relay connection. Each sender's own object passes at most 16 MiB a second, and the
 * receiver's at most 32 MiB a second in all (worker/relay/limits.ts): one sender shows a sender's
 * ceiling, several the receiving object's.
 */
import { encodeRelayMessage, TUNNEL_MAGIC } from "@pilot/protocol";
import { progress, round, sleep } from "../bench/measure.ts";
import { SimAgent } from "./agent.ts";
import { inPool } from "./stage.ts";

const FRAME_BYTES = 16 * 1024;
const FRAMES_PER_MESSAGE = 4;
/** What a sender lets its socket hold before it waits: enough to keep the pipe full, no more. */
const SEND_BUFFER_BYTES = 1024 * 1024;

export async function relayThroughput(url: string, senders: number, seconds: number) {
  const receiver = await SimAgent.register(url);
  await receiver.must("PATCH", "/v1/nodes/self", { public: true });
  let received = 0;
  const inbound = await receiver.openRelay((bytes) => (received += bytes));
  const agents = await inPool(Array.from({ length: senders }), 8, () => SimAgent.register(url));
  const sockets = await Promise.all(agents.map((a) => a.openRelay(() => undefined)));
  const frame = new Uint8Array(FRAME_BYTES);
  frame.set(Array.from(TUNNEL_MAGIC.sealed, (c) => c.charCodeAt(0)));
  const message = encodeRelayMessage(Array.from({ length: FRAMES_PER_MESSAGE }, () => ({ node: receiver.nodeId, frame })));
  progress(`relay: ${senders} sender(s) → one receiver, ${seconds} s`);
  // A second of warm-up (the gate's first check, the objects waking), then the count.
  let sent = 0;
  const until = performance.now() + (seconds + 1) * 1000;
  const sending = sockets.map(async (ws) => {
    while (performance.now() < until) {
      if (ws.bufferedAmount < SEND_BUFFER_BYTES) {
        ws.send(message);
        sent += message.byteLength;
      } else await sleep(1);
    }
  });
  await sleep(1000);
  const [startBytes, startSent, startAt] = [received, sent, performance.now()];
  await Promise.all(sending);
  const elapsed = (performance.now() - startAt) / 1000;
  const result = {
    senders,
    seconds: round(elapsed),
    offered_mib_s: round((sent - startSent) / elapsed / 2 ** 20),
    received_mib_s: round((received - startBytes) / elapsed / 2 ** 20),
  };
  for (const ws of [inbound, ...sockets]) ws.close();
  return result;
}
