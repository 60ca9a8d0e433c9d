/**
 * npm run bench: real processes on loopback — a local registry, two daemons, programs using the
 * SDK — measured against raw UDP in the same run. Prints a table and writes bench-results/*.json.
 *
 *   1. Encrypted datagram throughput, program → daemon → tunnel → daemon → program, vs raw UDP
 *      between two processes.
 *   2. Relayed handshake: request sent → the request event at the target daemon.
 *   3. Revocation: the registry answers a removal → the peer's datagrams stop being delivered.
 *   4. Resolve throughput on local workerd against a bare Worker route (/v1/health), and resolve
 *      and join latency with 10 and with 10,000 members in the network.
 */
import { fork } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DaemonClient } from "../daemon/src/ipc/client.ts";
import { Pilot } from "../daemon/src/sdk.ts";
import { Identity } from "../daemon/src/identity.ts";
import { RegistryClient } from "../daemon/src/registry-client.ts";
import { Cluster } from "../daemon/test/e2e/cluster.ts";
import { Operator } from "../daemon/test/local-registry.ts";

const PAYLOAD = 1200;
const DATAGRAMS = Number(process.env["BENCH_DATAGRAMS"] ?? 40_000);
const IN_FLIGHT = 256;
const HANDSHAKE_RUNS = 25;
const REVOCATION_RUNS = 10;

const progress = (line: string) => process.stderr.write(`… ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { runs: s.length, min: round(s[0]!), median: round(at(0.5)), p99: round(at(0.99)) };
}
const round = (n: number) => Math.round(n * 100) / 100;

/** Raw UDP between two processes: the ceiling the encrypted path is compared with. */
async function rawUdp(): Promise<{ mbps: number; delivered: number }> {
  const child = fork(new URL(import.meta.url).pathname, ["--udp-receiver"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const port = await new Promise<number>((resolve) => child.once("message", (m) => resolve((m as { port: number }).port)));
  const sender = createSocket({ type: "udp4", sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => sender.bind(0, "127.0.0.1", r));
  const payload = Buffer.alloc(PAYLOAD, 7);
  // Wall-clock milliseconds: the receiver is another process with its own performance clock.
  const started = performance.timeOrigin + performance.now();
  let inFlight = 0;
  for (let i = 0; i < DATAGRAMS; i++) {
    while (inFlight >= IN_FLIGHT) await new Promise((r) => setImmediate(r));
    inFlight++;
    sender.send(payload, port, "127.0.0.1", () => inFlight--);
  }
  child.send("done");
  const { bytes, lastAt } = await new Promise<{ bytes: number; lastAt: number }>((resolve) => child.once("message", (m) => resolve(m as never)));
  sender.close();
  child.kill();
  const seconds = (lastAt - started) / 1000;
  return { mbps: round(bytes / seconds / 1e6), delivered: round((bytes / PAYLOAD / DATAGRAMS) * 100) };
}

async function udpReceiver(): Promise<void> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
  let bytes = 0;
  let lastAt = 0;
  socket.on("message", (m) => {
    bytes += m.length;
    lastAt = performance.timeOrigin + performance.now();
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  process.send!({ port: socket.address().port });
  process.on("message", async () => {
    await sleep(500);
    process.send!({ bytes, lastAt });
  });
}

async function encryptedDatagrams(a: { home: string }, bNode: number, bHome: string): Promise<{ mbps: number; delivered: number }> {
  const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(bHome)];
  let bytes = 0;
  let lastAt = 0;
  await pb.receiveDatagrams(5001, (d) => {
    bytes += d.data.length;
    lastAt = performance.now();
  });
  const payload = Buffer.alloc(PAYLOAD, 9);
  await pa.sendDatagram(bNode, 5001, payload);
  await sleep(200);
  bytes = 0;
  const started = performance.now();
  let inFlight = 0;
  let failed = 0;
  for (let i = 0; i < DATAGRAMS; i++) {
    while (inFlight >= IN_FLIGHT) await new Promise((r) => setImmediate(r));
    inFlight++;
    pa.sendDatagram(bNode, 5001, payload).then(
      () => inFlight--,
      () => {
        inFlight--;
        failed++;
      },
    );
  }
  while (inFlight > 0) await sleep(5);
  await sleep(500);
  pa.close();
  pb.close();
  if (failed) progress(`${failed} sends failed`);
  return { mbps: round(bytes / ((lastAt - started) / 1000) / 1e6), delivered: round((bytes / PAYLOAD / DATAGRAMS) * 100) };
}

async function handshakeDelay(cluster: Cluster): Promise<number[]> {
  const target = await cluster.daemon("bench-hs-target");
  const sender = await cluster.daemon("bench-hs-sender");
  const watch = await DaemonClient.connect(join(target.home, "pilot.sock"));
  const arrivals: number[] = [];
  await watch.stream<{ type: string }>("subscribe", {}, (e) => {
    if (e.type === "handshake_request") arrivals.push(performance.now());
  });
  const ctl = await DaemonClient.connect(join(sender.home, "pilot.sock"));
  const delays: number[] = [];
  for (let i = 0; i < HANDSHAKE_RUNS; i++) {
    const seen = arrivals.length;
    const sent = performance.now();
    await ctl.call("handshake", { target: String(target.nodeId), justification: `bench ${i}` });
    while (arrivals.length === seen) await new Promise((r) => setImmediate(r));
    delays.push(arrivals[seen]! - sent);
    await target.run("reject", String(sender.nodeId), "bench");
  }
  watch.close();
  ctl.close();
  return delays;
}

async function revocationDelay(cluster: Cluster): Promise<number[]> {
  const operator = await Operator.signUp(cluster.registry.url);
  const net = await operator.createNetwork();
  const a = await cluster.daemon("bench-rv-a");
  const b = await cluster.daemon("bench-rv-b");
  await b.run("join-network", net.join!.url);
  const receiver = await Pilot.connect(b.home);
  let lastAt = 0;
  await receiver.receiveDatagrams(6001, () => (lastAt = performance.now()));
  const sender = await Pilot.connect(a.home);
  const delays: number[] = [];
  for (let run = 0; run < REVOCATION_RUNS; run++) {
    await a.run("join-network", net.join!.url);
    await sleep(300);
    let sending = true;
    const loop = (async () => {
      while (sending) {
        await sender.sendDatagram(b.nodeId, 6001, "tick").catch(() => undefined);
        await sleep(1);
      }
    })();
    await sleep(300);
    lastAt = 0;
    await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${a.nodeId}`);
    const answered = performance.now();
    await sleep(1000);
    sending = false;
    await loop;
    delays.push(Math.max(0, lastAt - answered));
  }
  sender.close();
  receiver.close();
  return delays;
}

/** Requests per second over `seconds`, with `concurrency` requests in flight. */
async function throughput(request: () => Promise<Response>, seconds = 3, concurrency = 16): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const res = await request();
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        done++;
      }
    }),
  );
  return round(done / seconds);
}

async function resolveThroughput(cluster: Cluster) {
  const url = cluster.registry.url;
  const [a, b] = [new RegistryClient({ url, identity: Identity.generate() }), new RegistryClient({ url, identity: Identity.generate() })];
  await a.register();
  const target = (await b.register()).node;
  await b.update({ public: true });
  const token = await a.bearer();
  const headers = { authorization: `Bearer ${token}` };
  await throughput(() => fetch(`${url}/v1/health`), 1);
  const bare = await throughput(() => fetch(`${url}/v1/health`));
  const resolve = await throughput(() => fetch(`${url}/v1/resolve/${target.node_id}`, { headers }));
  return { bare_rps: bare, resolve_rps: resolve, ratio: round(resolve / bare) };
}

/** Median latency of resolve (co-member) and of a token join, in a network of `members`. */
async function scaleAt(cluster: Cluster, members: number) {
  const url = cluster.registry.url;
  const operator = await Operator.signUp(url);
  const env = (await cluster.registry.harness.getWorker().getEnv()) as { DB: { prepare(q: string): { bind(...v: unknown[]): { run(): Promise<unknown>; first<T>(): Promise<T | null> }; run(): Promise<unknown> }; batch(s: unknown[]): Promise<unknown> } };
  await env.DB.prepare("UPDATE accounts SET plan = 'pro'").run();
  await env.DB.prepare("UPDATE plans SET max_members = 20000 WHERE id = 'pro'").run();
  const net = await operator.createNetwork();
  const member = new RegistryClient({ url, identity: Identity.generate() });
  await member.register();
  await member.joinNetwork(net.network_id, net.join!.token);
  const peer = new RegistryClient({ url, identity: Identity.generate() });
  const peerId = (await peer.register()).node.node_id;
  await peer.joinNetwork(net.network_id, net.join!.token);
  // Seed the rest straight into D1, 500 rows a statement.
  const base = (await env.DB.prepare("SELECT coalesce(max(id), 0) AS m FROM nodes").bind().first<{ m: number }>())!.m + 1;
  const statements = [];
  for (let start = 0; start < members - 2; start += 500) {
    const ids = Array.from({ length: Math.min(500, members - 2 - start) }, (_, i) => base + start + i);
    statements.push(env.DB.prepare(`INSERT INTO nodes (id, public_key, registered_at) VALUES ${ids.map((id) => `(${id}, 'bench-${id}', 0)`).join(",")}`));
    statements.push(env.DB.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) VALUES ${ids.map((id) => `(${net.network_id}, ${id}, 0)`).join(",")}`));
  }
  statements.push(env.DB.prepare("UPDATE networks SET member_count = ? WHERE id = ?").bind(members, net.network_id));
  if (statements.length) await env.DB.batch(statements);
  const resolve: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t = performance.now();
    await member.resolve(peerId);
    resolve.push(performance.now() - t);
  }
  const join: number[] = [];
  for (let i = 0; i < 20; i++) {
    const joiner = new RegistryClient({ url, identity: Identity.generate() });
    await joiner.register();
    const t = performance.now();
    await joiner.joinNetwork(net.network_id, net.join!.token);
    join.push(performance.now() - t);
  }
  return { members, resolve_ms: summary(resolve), join_ms: summary(join) };
}

async function main(): Promise<void> {
  const cluster = new Cluster();
  progress("starting a local registry and STUN responder");
  await cluster.start();
  try {
    progress(`raw UDP between two processes, ${DATAGRAMS} × ${PAYLOAD} B`);
    const raw = await rawUdp();
    progress("two daemons with mutual trust");
    const a = await cluster.daemon("bench-a");
    const b = await cluster.daemon("bench-b");
    await a.run("handshake", String(b.nodeId), "benchmark");
    await b.run("approve", String(a.nodeId));
    await sleep(300);
    progress(`encrypted datagrams through both daemons, ${DATAGRAMS} × ${PAYLOAD} B`);
    const encrypted = await encryptedDatagrams(a, b.nodeId, b.home);
    progress(`relayed handshake delay, ${HANDSHAKE_RUNS} runs`);
    const handshake = summary(await handshakeDelay(cluster));
    progress(`revocation delay, ${REVOCATION_RUNS} runs`);
    const revocation = summary(await revocationDelay(cluster));
    progress("resolve throughput against a bare route");
    const resolveRate = await resolveThroughput(cluster);
    progress("resolve and join with 10 and 10,000 members");
    const small = await scaleAt(cluster, 10);
    const large = await scaleAt(cluster, 10_000);

    const results = {
      date: new Date().toISOString(),
      node: process.version,
      datagrams: { count: DATAGRAMS, payload_bytes: PAYLOAD, raw_udp: raw, encrypted, ratio: round(encrypted.mbps / raw.mbps) },
      relayed_handshake_ms: handshake,
      revocation_ms: revocation,
      resolve_throughput: resolveRate,
      scale: { small, large, resolve_ratio: round(large.resolve_ms.median / small.resolve_ms.median), join_ratio: round(large.join_ms.median / small.join_ms.median) },
    };
    const rows = [
      ["measure", "result", "target"],
      ["raw UDP, process to process", `${raw.mbps} MB/s (${raw.delivered}% delivered)`, ""],
      ["encrypted datagrams, program to program", `${encrypted.mbps} MB/s (${encrypted.delivered}% delivered)`, ""],
      ["encrypted / raw", `${results.datagrams.ratio}`, ""],
      ["relayed handshake, request → pending (ms)", `min ${handshake.min} / median ${handshake.median} / p99 ${handshake.p99}`, "p99 ≤ 100"],
      ["revocation, removal answered → last datagram (ms)", `min ${revocation.min} / median ${revocation.median} / p99 ${revocation.p99}`, "p99 ≤ 100"],
      ["bare route (/v1/health), requests/s", `${resolveRate.bare_rps}`, ""],
      ["resolve, requests/s", `${resolveRate.resolve_rps} (${resolveRate.ratio} of bare)`, "≥ 0.5 of bare"],
      ["resolve median ms, 10 → 10,000 members", `${small.resolve_ms.median} → ${large.resolve_ms.median} (×${results.scale.resolve_ratio})`, "≤ ×1.3"],
      ["join median ms, 10 → 10,000 members", `${small.join_ms.median} → ${large.join_ms.median} (×${results.scale.join_ratio})`, "≤ ×1.3"],
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
    mkdirSync("bench-results", { recursive: true });
    const file = join("bench-results", `bench-${results.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nwritten to ${file}`);
  } finally {
    await cluster.stop();
  }
}

if (process.argv[2] === "--udp-receiver") await udpReceiver();
else await main();
