/**
 * A port policy change, as the console drives it: A (tagged client) keeps writing to B (tagged
 * server) on a port the network's policy allows; the owner replaces the policy with one that no
 * longer allows it, and we time from the registry's answer to B's daemon resetting the stream
 * (the destination enforces) and to A's program hearing of it. Each run first allows the port
 * again and waits until B's daemon holds that policy.
 */
import type { Rule } from "@pilot/protocol";
import { Pilot, type DaemonEvent } from "../../daemon/src/sdk/pilot.ts";
import type { Cluster } from "../../daemon/test/e2e/cluster.ts";
import { Operator } from "../../daemon/test/local-registry.ts";
import { cutOffs, failure, sleep, type Failure } from "./measure.ts";

export const POLICY_RUNS = 60;
const PORT = 6200;
/** How long a run waits for the connection to be torn down before counting it as missed. */
const CUT_OFF_WAIT_MS = 2000;

const only = (port: number): Rule[] => [{ from: "client", to: "server", ports: [port], protocols: ["stream"] }];

export async function policyChangeDelay(cluster: Cluster) {
  const operator = await Operator.signUp(cluster.registry.url);
  const key = await operator.enrollmentKey();
  const net = await operator.createNetwork("invite");
  const [a, b] = [await cluster.daemon("bench-pol-a", "--enroll", key), await cluster.daemon("bench-pol-b", "--enroll", key)];
  const members = `/v1/networks/${net.network_id}/members`;
  for (const [d, tag] of [[a, "client"], [b, "server"]] as const) {
    await operator.request("POST", members, { node: String(d.nodeId) });
    await operator.request("PUT", `${members}/${d.nodeId}/tags`, { tags: [tag] });
  }
  const setPolicy = (rules: Rule[]) => operator.request<{ revision: number }>("PUT", `/v1/networks/${net.network_id}/policy`, { self_tagging: false, rules });

  // B's daemon's policy revisions as it applies them, from its event stream.
  const applied: number[] = [];
  const watcher = await Pilot.connect(b.home);
  await watcher.events((e: DaemonEvent) => {
    if (e.type === "policy_updated") applied.push(e.revision);
  });
  type Run = { received: number; a?: Failure; b?: Failure };
  let current: Run = { received: 0 };
  const receiver = await Pilot.connect(b.home);
  const server = await receiver.listen(PORT, (conn) => {
    const run = current;
    conn.on("data", (d: Buffer) => (run.received += d.length));
    conn.on("error", (e) => (run.b ??= failure(e)));
  });
  const sender = await Pilot.connect(a.home);
  const { delays, record } = cutOffs(CUT_OFF_WAIT_MS);
  for (let run = 0; run < POLICY_RUNS; run++) {
    const { revision } = await setPolicy(only(PORT));
    while (!applied.includes(revision)) await sleep(2);
    const live: Run = { received: 0 };
    current = live;
    const conn = await sender.dial(b.nodeId, PORT);
    conn.on("error", (e) => (live.a ??= failure(e)));
    conn.resume();
    const tick = Buffer.alloc(4096, run);
    const writer = setInterval(() => {
      if (!conn.destroyed && !conn.writableNeedDrain) conn.write(tick);
    }, 1);
    while (live.received === 0) await sleep(2);
    await setPolicy(only(PORT + 1));
    const answered = performance.now();
    while (!(live.a && live.b) && performance.now() - answered < CUT_OFF_WAIT_MS) await sleep(1);
    clearInterval(writer);
    conn.destroy();
    record(live, answered);
  }
  server.close();
  for (const p of [sender, receiver, watcher]) p.close();
  return delays;
}
