/**
 * npm run bench: real processes on loopback — a local registry, two daemons, programs using the
 * SDK — measured against raw UDP in the same run. Prints a table and writes bench-results/*.json.
 *
 *   1. Encrypted datagram throughput, program → daemon → tunnel → daemon → program, vs raw UDP
 *      between two processes.
 *   2. Encrypted stream throughput, program → daemon → tunnel → daemon → program (the receiving
 *      program in a process of its own), vs raw UDP at 1,200-byte datagrams and at the stream's
 *      own datagram size on loopback.
 *   3. Relayed handshake: request sent → the request event at the target daemon.
 *   4. Revocation: the registry answers a removal → the peer's datagrams stop being delivered, and
 *      → a live stream between the two fails on both sides; and → the slowest of the daemons'
 *      signed receipts reaches the registry (by the registry's clock).
 *   5. Resolve throughput on local workerd against a bare Worker route (/v1/health), and resolve
 *      and join latency with 10 and with 10,000 members in the network.
 *   6. Live membership: the registry answers an owner's add → the running daemon hears it, and →
 *      its channel to the network is in sync (its members may reach it); a removal → the daemon
 *      hears it; an invitation → the invited daemon announces it. And a port policy change: the
 *      registry answers a policy that forbids a live stream → the destination daemon resets it,
 *      and → the dialing program hears of it.
 *   7. First contact, in the NAT lab (root, ip and nft; skipped with the reason otherwise): a
 *      program's dial → the first byte the listening program wrote, through two port-preserving
 *      NATs and between two public agents, from a restarted dialing daemon each run.
 *   8. The relay, in the same NAT lab: two agents behind symmetric NATs, whose traffic goes through
 *      the registry's relay (the local workerd): stream throughput, and the round trip of pings
 *      through it against pings on the direct path between the port-preserving pair, beside one
 *      registry round trip; and revocation as in 4, of a stream through the relay.
 *   9. The real path, in the path lab (root): two namespaces joined by one veth at MTU 1500 and
 *      9000, our stream and datagrams against wireguard-go, plain TCP and plain UDP between two
 *      Node processes on the same veth, CPU per GB of every process, and the stream with a 50 and
 *      a 100 ms round trip (bench/real-path.ts).
 *  10. The capacity model (capacity/section.ts, docs/capacity.md): a load test of simulated agents
 *      holding channels, heartbeating and churning; revocation fan-out from one network's object
 *      to all its members' sockets; the relay's throughput into one node's object; and the hot
 *      requests with 1,000,000 nodes and 65,535 networks in local D1.
 *
 * `npm run bench -- --only real-path` runs only the sections named (loopback: 1 to 6, nat-lab:
 * 7 and 8, real-path: 9, capacity: 10; comma-separated); the JSON file holds what ran.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Network, RevocationList } from "@pilot/protocol";
import { Pilot } from "../daemon/src/sdk/pilot.ts";
import { Identity } from "../daemon/src/identity.ts";
import { RegistryClient } from "../daemon/src/registry-client.ts";
import { Cluster, type Daemon } from "../daemon/test/e2e/cluster.ts";
import { Operator } from "../daemon/test/local-registry.ts";
import { NatLab, type Agent, type Home } from "../daemon/test/nat-lab/lab.ts";
import { befriend, waitFor, within } from "../daemon/test/wait.ts";
import { cutOffs, failure, progress, round, sleep, summary, type Failure } from "./bench/measure.ts";
import { CHUNK, cpuResult, datagramThroughput, gcResult, STREAM_RUNS, streamResult, streamThroughput } from "./bench/programs.ts";
import { plainUdp } from "./bench/plain-udp.ts";
import { policyChangeDelay, POLICY_RUNS } from "./bench/policy-change.ts";
import { realPath } from "./bench/real-path.ts";
import { capacity } from "./capacity/section.ts";

const PAYLOAD = 1200;
const DATAGRAMS = Number(process.env["BENCH_DATAGRAMS"] ?? 40_000);
const HANDSHAKE_RUNS = 25;
const REVOCATION_RUNS = 10;
const MEMBERSHIP_RUNS = 20;
const STREAM_MB = Number(process.env["BENCH_STREAM_MB"] ?? 256);
/** Stream size through the relay, MiB: at its 10 MB/s goal, a few seconds a run. */
const RELAY_STREAM_MB = Number(process.env["BENCH_RELAY_STREAM_MB"] ?? 64);
/** Pings timed through the relay and on the direct path. */
const RELAY_PINGS = 50;
/**
 * On loopback a stream segment carries 65,436 payload bytes, and sealed it is one 65,507-byte UDP
 * datagram, the largest IPv4 allows: raw UDP at that size is the stream's own ceiling.
 */
const WIRE_DATAGRAM = 65_507;
/** First contacts timed through two NATs and without, each from a fresh daemon. */
const FIRST_CONTACT_RUNS = 20;
const FIRST_CONTACT_PORT = 7000;
/** A little over the second for which a peer just heard from is not probed back. */
const PROBE_QUIET_MS = 1200;
/** How long a removal gets to tear a live stream down before a run counts as missed. */
const CUT_OFF_WAIT_MS = 2000;

async function handshakeDelay(cluster: Cluster): Promise<number[]> {
  const target = await cluster.daemon("bench-hs-target");
  const sender = await cluster.daemon("bench-hs-sender");
  const watch = await Pilot.connect(target.home);
  const arrivals: number[] = [];
  await watch.events((e) => {
    if (e.type === "handshake_request") arrivals.push(performance.now());
  });
  const ctl = await Pilot.connect(sender.home);
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

/**
 * Revocation as the receiver enforces it (the registry answers a removal → the removed sender's
 * datagrams stop arriving), and as the daemons confirm it: the slowest receipt of each removal, by
 * the registry's clock from its answer (both daemons, the member and the node removed, confirm).
 */
async function revocationDelay(cluster: Cluster): Promise<{ delays: number[]; receipts: number[] }> {
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
  const receipts: number[] = [];
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
    receipts.push(await slowestReceipt(operator, net.network_id));
  }
  sender.close();
  receiver.close();
  return { delays, receipts };
}

/** The network's latest revocation's slowest receipt, once every daemon it expects has confirmed. */
async function slowestReceipt(operator: Operator, networkId: number): Promise<number> {
  for (const deadline = performance.now() + 10_000; performance.now() < deadline; await sleep(20)) {
    const [latest] = (await operator.request<RevocationList>("GET", `/v1/networks/${networkId}/revocations`)).revocations;
    if (latest && latest.confirmed === latest.expected && latest.slowest_ms !== null) return latest.slowest_ms;
  }
  throw new Error("the removal's receipts did not all arrive within 10 s");
}

/** Waits for the next daemon event of a type, from when this is called; resolves with its arrival time. */
function nextEvent(events: { type: string; at: number }[], type: string, after: number, ms = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + ms;
    const look = () => {
      const e = events.find((x) => x.type === type && x.at >= after);
      if (e) return resolve(e.at);
      if (performance.now() > deadline) return reject(new Error(`no ${type} event within ${ms} ms`));
      setImmediate(look);
    };
    look();
  });
}

/**
 * Live membership, as the console drives it: an owner adds a running enrolled agent, and we time
 * from the registry's answer to the daemon's network_added event (the push over its own channel)
 * and to its network_synced event (the network's channel open and its members in force); then the
 * removal, to network_removed; and an invitation to a running foreign agent, to invitation_received.
 */
async function membershipDelay(cluster: Cluster) {
  const operator = await Operator.signUp(cluster.registry.url);
  const key = await operator.enrollmentKey();
  const net = await operator.createNetwork("invite");
  const member = await cluster.daemon("bench-live-m", "--enroll", key);
  const peer = await cluster.daemon("bench-live-p", "--enroll", key);
  const guest = await cluster.daemon("bench-live-g");
  const members = `/v1/networks/${net.network_id}/members`;
  await operator.request("POST", members, { node: String(peer.nodeId) });
  const watch = async (home: string) => {
    const events: { type: string; at: number }[] = [];
    const pilot = await Pilot.connect(home);
    await pilot.events((e) => events.push({ type: e.type, at: performance.now() }));
    return { events, pilot };
  };
  const [m, g] = [await watch(member.home), await watch(guest.home)];
  const added: number[] = [];
  const synced: number[] = [];
  const removed: number[] = [];
  const invited: number[] = [];
  for (let run = 0; run < MEMBERSHIP_RUNS; run++) {
    let t = performance.now();
    await operator.request("POST", members, { node: String(member.nodeId) });
    let answered = performance.now();
    added.push((await nextEvent(m.events, "network_added", t)) - answered);
    synced.push((await nextEvent(m.events, "network_synced", t)) - answered);
    t = performance.now();
    await operator.request("DELETE", `${members}/${member.nodeId}`);
    answered = performance.now();
    removed.push((await nextEvent(m.events, "network_removed", t)) - answered);
    t = performance.now();
    await operator.request("POST", members, { node: String(guest.nodeId) });
    answered = performance.now();
    invited.push((await nextEvent(g.events, "invitation_received", t)) - answered);
    await operator.request("DELETE", `/v1/networks/${net.network_id}/invitations/${guest.nodeId}`);
  }
  m.pilot.close();
  g.pilot.close();
  // An event that arrived before the HTTP answer counts as 0.
  const positive = (list: number[]) => summary(list.map((d) => Math.max(0, d)));
  return { added: positive(added), synced: positive(synced), removed: positive(removed), invited: positive(invited) };
}

/**
 * Revocation of a live stream: A and B share one network and nothing else, B's program accepts a
 * connection and reads, A's program keeps writing 4 KiB a millisecond; the operator removes A, and
 * we time from the registry's answer to the 'error' event on each side. A re-joins every run.
 */
/** Two daemons for the stream revocation measure on loopback: B in a network, A to join it each run. */
async function streamRevocationOnLoopback(cluster: Cluster) {
  const operator = await Operator.signUp(cluster.registry.url);
  const net = await operator.createNetwork();
  const a = await cluster.daemon("bench-rs-a");
  const b = await cluster.daemon("bench-rs-b");
  await b.run("join-network", net.join!.url);
  return streamRevocationDelay(operator, net, a, b, 6002);
}

/**
 * Each run: A joins the operator's network (B is a member), writes to B over a stream, and the
 * operator removes A; then the time from the registry's answer to each side's stream failing.
 */
async function streamRevocationDelay(operator: Operator, net: Network, a: Daemon, b: Daemon, port: number) {
  type Run = { accepted: boolean; a?: Failure; b?: Failure };
  let seen: Run = { accepted: false };
  const receiver = await Pilot.connect(b.home);
  const server = await receiver.listen(port, (conn) => {
    const run = seen;
    run.accepted = true;
    conn.on("error", (e) => (run.b ??= failure(e)));
    conn.resume();
  });
  const sender = await Pilot.connect(a.home);
  const { delays, record } = cutOffs(CUT_OFF_WAIT_MS);
  for (let run = 0; run < REVOCATION_RUNS; run++) {
    await a.run("join-network", net.join!.url);
    await sleep(300);
    const current: Run = { accepted: false };
    seen = current;
    const conn = await sender.dial(b.nodeId, port);
    conn.on("error", (e) => (current.a ??= failure(e)));
    conn.resume();
    const tick = Buffer.alloc(4096, run);
    const writer = setInterval(() => {
      if (!conn.destroyed && !conn.writableNeedDrain) conn.write(tick);
    }, 1);
    await sleep(300);
    if (!current.accepted || current.a || current.b) throw new Error(`stream revocation run ${run}: the connection was not live before the removal`);
    await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${a.nodeId}`);
    const answered = performance.now();
    while (!(current.a && current.b) && performance.now() - answered < CUT_OFF_WAIT_MS) await sleep(5);
    clearInterval(writer);
    conn.destroy();
    record(current, answered);
  }
  server.close();
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
  statements.push(env.DB.prepare("UPDATE networks SET member_count = ?, revision = revision + 1 WHERE id = ?").bind(members, net.network_id));
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

/**
 * A first contact's pair: a dialing and a listening daemon in one network. `used` holds the public
 * mappings the dialer has had: each run must start from one neither router has seen.
 */
interface ContactPair {
  dialer: Daemon;
  listener: Daemon;
  networkId: number;
  /** The network's owner and join URL: the relay's revocation measure removes the dialer and lets it join again. */
  operator: Operator;
  net: Network;
  /** The dialing program's connection to the current dialer process. */
  pilot?: Pilot;
  /** The listening program's. */
  listening: Pilot;
  used: Set<string>;
}

const inSync = async (pilot: Pilot, networkId: number) => (await pilot.info()).networks.some((n) => n.network_id === networkId && n.synced);

/**
 * Daemons on two agents, members of one new network (each network its own operator: a free
 * account holds one), in sync with it; a program listens through the listener and, on each
 * connection, writes one byte and ends.
 */
async function contactPair(lab: NatLab, name: string, dialerAgent: Agent, listenerAgent: Agent): Promise<ContactPair> {
  const operator = await lab.operator();
  const net = await operator.createNetwork();
  const dialer = await lab.daemon(dialerAgent, `${name}-dialer`);
  const listener = await lab.daemon(listenerAgent, `${name}-listener`, { flags: ["--hostname", `${name}-listener`] });
  const listening = await Pilot.connect(listener.home);
  const pair: ContactPair = { dialer, listener, networkId: net.network_id, operator, net, listening, used: new Set() };
  await listening.listen(FIRST_CONTACT_PORT, (conn) => {
    conn.on("error", () => undefined); // the dialer closes as soon as the byte is in
    conn.end(Buffer.of(1));
  });
  for (const d of [pair.dialer, pair.listener]) await d.run("join-network", String(net.network_id), "--token", net.join!.token);
  await waitFor(() => inSync(listening, net.network_id), `${listener.name} to be in sync with its network`, 60_000);
  return pair;
}

/**
 * Makes the dialer's next contact with the listener a first one: a new daemon process on the same
 * home (same identity, so still a member), with no tunnel and no cached view of the peer, bound to
 * a new random UDP port and so holding a new mapping on its NAT. A mapping the dialer held before
 * may still be in a router's connection tracking, which would let the first packets through without
 * the hole punch: such a start is done again. Resolves with when the previous process stopped.
 */
async function restartDialer(pair: ContactPair): Promise<number> {
  pair.pilot?.close();
  for (;;) {
    await pair.dialer.stop();
    const stoppedAt = performance.now();
    await pair.dialer.start();
    pair.pilot = await Pilot.connect(pair.dialer.home);
    await waitFor(() => inSync(pair.pilot!, pair.networkId), `${pair.dialer.name} to be in sync with its network`, 60_000);
    const mapping = String((await pair.pilot.info()).endpoint);
    if (pair.used.has(mapping)) continue;
    pair.used.add(mapping);
    return stoppedAt;
  }
}

/** From the program's dial to the first byte the listener wrote, in ms; or the error's code. */
async function firstByte(pair: ContactPair): Promise<number | string> {
  const started = performance.now();
  try {
    const conn = await pair.pilot!.dial(pair.listener.nodeId, FIRST_CONTACT_PORT);
    try {
      await within("the listener's byte", once(conn, "data"));
      return performance.now() - started;
    } finally {
      conn.destroy();
    }
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  }
}

/** One registry round trip from the dialer: its daemon resolving the listener's hostname. */
async function registryRoundTrip(pair: ContactPair): Promise<number> {
  const started = performance.now();
  await pair.pilot!.call("find", { hostname: pair.listener.name });
  return performance.now() - started;
}

/**
 * First contact through two NATs and without: in one NAT lab, two agents each behind its own
 * port-preserving NAT and two agents on the internet, a dialer and a listener in each pair. Every
 * run restarts both dialers (restartDialer says why that is a first contact), then times each
 * pair's dial to the first byte, the order alternating between runs; then one registry round trip
 * from each dialer, which the dial's path request also makes.
 */
async function firstContact() {
  const lab = await NatLab.create();
  try {
    await lab.internetHost();
    const [homeA, homeB] = [await lab.home("bench-home-a", { nat: "port-preserving" }), await lab.home("bench-home-b", { nat: "port-preserving" })];
    const nat = await contactPair(lab, "nat", await homeA.agent("bench-nat-a"), await homeB.agent("bench-nat-b"));
    const open = await contactPair(lab, "pub", await lab.publicAgent("bench-pub-a"), await lab.publicAgent("bench-pub-b"));
    const samples = { nat: [] as number[], open: [] as number[], natRegistry: [] as number[], openRegistry: [] as number[], failures: [] as string[] };
    for (let run = 0; run < FIRST_CONTACT_RUNS; run++) {
      const stopped = Math.max(...(await Promise.all([restartDialer(nat), restartDialer(open)])));
      // The listener probes back only for a peer it has not heard from for a second (docs/nat-traversal.md);
      // the old dialer's last packets came just before it stopped.
      await sleep(Math.max(0, stopped + PROBE_QUIET_MS - performance.now()));
      const measured = { nat: 0 as number | string, open: 0 as number | string };
      for (const which of run % 2 ? (["open", "nat"] as const) : (["nat", "open"] as const)) {
        const ms = (measured[which] = await firstByte(which === "nat" ? nat : open));
        if (typeof ms === "number") samples[which].push(ms);
        else samples.failures.push(`${which === "nat" ? "through two NATs" : "no NAT"}: ${ms}`);
      }
      samples.natRegistry.push(await registryRoundTrip(nat));
      samples.openRegistry.push(await registryRoundTrip(open));
      const shown = (r: number | string) => (typeof r === "number" ? `${round(r)} ms` : r);
      progress(`first contact run ${run + 1}: through two NATs ${shown(measured.nat)}, no NAT ${shown(measured.open)}`);
    }
    progress("the relay: two agents behind symmetric NATs");
    const relayed = await relayedPath(lab, nat);
    for (const p of [nat.pilot, nat.listening, open.pilot, open.listening]) p?.close();
    const [throughNats, noNat] = [summary(samples.nat), summary(samples.open)];
    // The witness that each run crossed the NATs afresh: what each router dropped as unsolicited.
    const dropped = async (home: Home) => (await home.router.counters()).unsolicited.packets;
    return {
      runs: FIRST_CONTACT_RUNS,
      through_two_nats: throughNats,
      no_nat: noNat,
      ratio: { median: round(throughNats.median / noNat.median), p99: round(throughNats.p99 / noNat.p99) },
      registry_round_trip: { through_two_nats: summary(samples.natRegistry), no_nat: summary(samples.openRegistry) },
      failures: samples.failures,
      dropped_unsolicited: { dialer_home: await dropped(homeA), listener_home: await dropped(homeB) },
      relay: relayed,
    };
  } finally {
    await lab.close();
  }
}

/** Round trips of pings from the pair's dialer to its listener through their tunnel, in ms. */
async function pings(pair: ContactPair): Promise<number[]> {
  const results = (await pair.dialer.run("ping", String(pair.listener.nodeId), "--count", String(RELAY_PINGS)))["results"] as { rtt_ms?: number }[];
  return results.flatMap((r) => (r.rtt_ms === undefined ? [] : [r.rtt_ms]));
}

/** The path a pair's dialer holds to its listener, as `pilotctl peers` shows it. */
async function pathOf(pair: ContactPair): Promise<string | undefined> {
  return ((await pair.dialer.run("peers"))["peers"] as { node_id: number; path: string }[]).find((p) => p.node_id === pair.listener.nodeId)?.path;
}

/**
 * The relay: a pair behind two symmetric NATs, which have no direct path, and the port-preserving
 * pair of the first-contact measure, which has one. Pings through each (alternating, so both see
 * the same machine), one registry round trip from the relayed dialer, then the stream through the
 * relay, three runs.
 */
async function relayedPath(lab: NatLab, direct: ContactPair) {
  const [symA, symB] = [await lab.home("bench-sym-a", { nat: "fully-random" }), await lab.home("bench-sym-b", { nat: "fully-random" })];
  const relayed = await contactPair(lab, "relay", await symA.agent("bench-relay-a"), await symB.agent("bench-relay-b"));
  relayed.pilot = await Pilot.connect(relayed.dialer.home);
  await waitFor(() => inSync(relayed.pilot!, relayed.networkId), "the relayed dialer to be in sync with its network", 60_000);
  await pings(relayed); // opens the tunnel, through the relay
  const paths = { relayed: await pathOf(relayed), direct: await pathOf(direct) };
  if (paths.relayed !== "relay" || paths.direct !== "direct") throw new Error(`expected a relayed and a direct pair, found ${JSON.stringify(paths)}`);
  const rtt = { relayed: [] as number[], direct: [] as number[], registry: [] as number[] };
  for (let round = 0; round < 4; round++) {
    rtt.relayed.push(...(await pings(relayed)));
    rtt.direct.push(...(await pings(direct)));
    rtt.registry.push(await registryRoundTrip(relayed));
  }
  const [throughRelay, onDirect, registry] = [summary(rtt.relayed), summary(rtt.direct), summary(rtt.registry)];
  progress(`relayed stream, ${RELAY_STREAM_MB} MiB × ${STREAM_RUNS} runs`);
  const stream = await streamThroughput(relayed.dialer, relayed.listener, RELAY_STREAM_MB);
  relayed.pilot.close();
  relayed.listening.close();
  progress(`revocation of a relayed stream, ${REVOCATION_RUNS} runs`);
  await relayed.operator.request("DELETE", `/v1/networks/${relayed.networkId}/members/${relayed.dialer.nodeId}`);
  const cut = await streamRevocationDelay(relayed.operator, relayed.net, relayed.dialer, relayed.listener, 6003);
  return {
    revocation_ms: { receiver: summary(cut.b.map((d) => Math.max(0, d))), sender: summary(cut.a.map((d) => Math.max(0, d))), ...cut },
    rtt_ms: { relayed: throughRelay, direct: onDirect, registry_round_trip: registry },
    added_rtt_ms: { median: round(throughRelay.median - onDirect.median), in_registry_round_trips: round((throughRelay.median - onDirect.median) / registry.median) },
    stream,
  };
}

type Rows = string[][];
type Section = { results: Record<string, unknown>; rows: Rows };

const codes = (list: string[]) => [...new Set(list)].map((c) => `${c} ×${list.filter((x) => x === c).length}`).join(", ");
const missed = (n: number) => (n ? `, ${n} not torn down within ${CUT_OFF_WAIT_MS} ms` : "");
const signed = (runs: number[]) => `signed ${Math.min(...runs)} … ${Math.max(...runs)}`;
const spread = (s: ReturnType<typeof summary>) => `min ${s.min} / median ${s.median} / p99 ${s.p99}`;

/** Sections 1 to 6, on loopback: a local registry and STUN responder, daemons in this network namespace. */
async function loopback(): Promise<Section> {
  const cluster = new Cluster();
  progress("starting a local registry and STUN responder");
  await cluster.start();
  try {
    progress(`raw UDP between two processes, ${DATAGRAMS} × ${PAYLOAD} B`);
    const raw = await plainUdp({ host: "127.0.0.1", size: PAYLOAD, count: DATAGRAMS });
    const wireCount = Math.ceil((STREAM_MB * CHUNK) / WIRE_DATAGRAM);
    progress(`raw UDP between two processes, ${wireCount} × ${WIRE_DATAGRAM} B (the stream's datagram size on loopback)`);
    const rawWire = await plainUdp({ host: "127.0.0.1", size: WIRE_DATAGRAM, count: wireCount });
    progress("two daemons with mutual trust");
    const a = await cluster.daemon("bench-a");
    const b = await cluster.daemon("bench-b");
    await befriend(a, b, "benchmark");
    progress(`encrypted datagrams through both daemons, ${DATAGRAMS} × ${PAYLOAD} B`);
    const encrypted = await datagramThroughput(a, b, { payload: PAYLOAD, count: DATAGRAMS });
    progress(`encrypted stream through both daemons, ${STREAM_MB} MiB × ${STREAM_RUNS} runs`);
    const stream = await streamThroughput(a, b, STREAM_MB);
    progress(`relayed handshake delay, ${HANDSHAKE_RUNS} runs`);
    const handshake = summary(await handshakeDelay(cluster));
    progress(`revocation delay, ${REVOCATION_RUNS} runs`);
    const revoked = await revocationDelay(cluster);
    const [revocation, receipts] = [summary(revoked.delays), summary(revoked.receipts)];
    progress(`revocation of a live stream, ${REVOCATION_RUNS} runs`);
    const streamCut = await streamRevocationOnLoopback(cluster);
    // Summarised like the datagram measure: a teardown before the answer arrived counts as 0.
    const [cutB, cutA] = [summary(streamCut.b.map((d) => Math.max(0, d))), summary(streamCut.a.map((d) => Math.max(0, d)))];
    progress(`live membership: adds, removals and invitations reaching running daemons, ${MEMBERSHIP_RUNS} runs`);
    const membership = await membershipDelay(cluster);
    progress(`port policy changes closing a forbidden live stream, ${POLICY_RUNS} runs`);
    const policyCut = await policyChangeDelay(cluster);
    const [policyB, policyA] = [summary(policyCut.b.map((d) => Math.max(0, d))), summary(policyCut.a.map((d) => Math.max(0, d)))];
    progress("resolve throughput against a bare route");
    const resolveRate = await resolveThroughput(cluster);
    progress("resolve and join with 10 and 10,000 members");
    const small = await scaleAt(cluster, 10);
    const large = await scaleAt(cluster, 10_000);
    return {
      results: {
        datagrams: { count: DATAGRAMS, payload_bytes: PAYLOAD, raw_udp: raw, encrypted, ratio: round(encrypted.mbps / raw.mbps) },
        raw_udp_wire_size: rawWire,
        stream: {
          ...stream,
          ratio_to_raw_udp_1200: round(stream.median_mbps / raw.mbps),
          ratio_to_raw_udp_wire_size: round(stream.median_mbps / rawWire.mbps),
        },
        relayed_handshake_ms: handshake,
        revocation_ms: revocation,
        revocation_receipts_ms: receipts,
        stream_revocation_ms: {
          receiver: cutB,
          sender: cutA,
          receiver_runs: streamCut.b,
          sender_runs: streamCut.a,
          receiver_codes: streamCut.b_codes,
          sender_codes: streamCut.a_codes,
          missed: { receiver: streamCut.missed_b, sender: streamCut.missed_a },
        },
        live_membership_ms: membership,
        policy_change_ms: {
          destination: policyB,
          dialer: policyA,
          destination_runs: policyCut.b,
          dialer_runs: policyCut.a,
          destination_codes: policyCut.b_codes,
          dialer_codes: policyCut.a_codes,
          missed: { destination: policyCut.missed_b, dialer: policyCut.missed_a },
        },
        resolve_throughput: resolveRate,
        scale: { small, large, resolve_ratio: round(large.resolve_ms.median / small.resolve_ms.median), join_ratio: round(large.join_ms.median / small.join_ms.median) },
      },
      rows: [
        ["raw UDP, process to process, 1,200 B datagrams, unpaced", `${raw.mbps} MB/s (${raw.delivered}% delivered)`, ""],
        [`raw UDP, process to process, ${WIRE_DATAGRAM.toLocaleString("en")} B datagrams, unpaced`, `${rawWire.mbps} MB/s (${rawWire.delivered}% delivered)`, ""],
        ["encrypted datagrams, program to program, 1,200 B", `${encrypted.mbps} MB/s (${encrypted.delivered}% delivered)`, ""],
        ["encrypted datagrams / raw UDP 1,200 B", `${round(encrypted.mbps / raw.mbps)}`, ""],
        [`encrypted stream, program to program, ${STREAM_MB} MiB, median of ${STREAM_RUNS}`, streamResult(stream), "≥ 89 MB/s"],
        ["encrypted stream, CPU s per GB", cpuResult(stream.cpu_s_per_gb), ""],
        ["encrypted stream, full GCs per GB", gcResult(stream.major_gcs_per_gb), ""],
        ["encrypted stream / raw UDP 1,200 B", `${round(stream.median_mbps / raw.mbps)}`, "≥ 0.4"],
        [`encrypted stream / raw UDP ${WIRE_DATAGRAM.toLocaleString("en")} B`, `${round(stream.median_mbps / rawWire.mbps)}`, "≥ 0.4"],
        ["relayed handshake, request → pending (ms)", spread(handshake), "p99 ≤ 100"],
        ["revocation, removal answered → last datagram (ms)", spread(revocation), "p99 ≤ 100"],
        ["revocation, removal answered → slowest daemon's signed receipt, registry's clock (ms)", spread(receipts), ""],
        [
          "revocation, removal answered → receiver's stream fails (ms)",
          `${spread(cutB)} (${signed(streamCut.b)}; ${codes(streamCut.b_codes)}${missed(streamCut.missed_b)})`,
          "p99 ≤ 100",
        ],
        [
          "revocation, removal answered → removed sender's stream fails (ms)",
          `${spread(cutA)} (${signed(streamCut.a)}; ${codes(streamCut.a_codes)}${missed(streamCut.missed_a)})`,
          "",
        ],
        ...(
          [
            ["owner's add answered → the running daemon hears it (ms)", membership.added, "p99 ≤ 100"],
            ["owner's add answered → its network channel in sync (ms)", membership.synced, ""],
            ["removal answered → the removed daemon hears it (ms)", membership.removed, "p99 ≤ 100"],
            ["invitation answered → the invited daemon announces it (ms)", membership.invited, "p99 ≤ 100"],
          ] as const
        ).map(([what, s, target]) => [what, spread(s), target]),
        [
          "policy change → forbidden connections closed, policy answered → destination resets the stream (ms)",
          `${spread(policyB)} (${signed(policyCut.b)}; ${codes(policyCut.b_codes)}${missed(policyCut.missed_b)})`,
          "p99 ≤ 100",
        ],
        [
          "policy change, policy answered → dialer's stream fails (ms)",
          `${spread(policyA)} (${signed(policyCut.a)}; ${codes(policyCut.a_codes)}${missed(policyCut.missed_a)})`,
          "",
        ],
        ["bare route (/v1/health), requests/s", `${resolveRate.bare_rps}`, ""],
        ["resolve, requests/s", `${resolveRate.resolve_rps} (${resolveRate.ratio} of bare)`, "≥ 0.5 of bare"],
        ["resolve median ms, 10 → 10,000 members", `${small.resolve_ms.median} → ${large.resolve_ms.median} (×${round(large.resolve_ms.median / small.resolve_ms.median)})`, "≤ ×1.3"],
        ["join median ms, 10 → 10,000 members", `${small.join_ms.median} → ${large.join_ms.median} (×${round(large.join_ms.median / small.join_ms.median)})`, "≤ ×1.3"],
      ],
    };
  } finally {
    await cluster.stop();
  }
}

/** Sections 7 and 8, in the NAT lab (root, ip and nft; skipped with the reason otherwise). */
async function natLab(): Promise<Section> {
  const labMissing = await NatLab.unavailable();
  if (labMissing) {
    progress(`first contact across NATs skipped: ${labMissing}`);
    return { results: { first_contact_ms: { skipped: labMissing } }, rows: [["first contact across NATs", `skipped: ${labMissing}`, ""]] };
  }
  progress(`first contact through two NATs and without, ${FIRST_CONTACT_RUNS} runs, each from a restarted dialing daemon`);
  const contact = await firstContact();
  return {
    results: { first_contact_ms: contact },
    rows: [
      [
        `first contact, dial → first byte, through two port-preserving NATs (ms), ${contact.runs} runs`,
        `${spread(contact.through_two_nats)}${contact.failures.length ? ` (failed: ${codes(contact.failures)})` : ""}`,
        "",
      ],
      ["first contact, dial → first byte, no NAT (ms), the same runs", spread(contact.no_nat), ""],
      ["first contact, through two NATs / no NAT, median · p99", `×${contact.ratio.median} · ×${contact.ratio.p99}`, ""],
      [
        "registry round trip from the dialer, through NAT · no NAT (median ms)",
        `${contact.registry_round_trip.through_two_nats.median} · ${contact.registry_round_trip.no_nat.median}`,
        "",
      ],
      [
        `relayed stream through local workerd, two symmetric NATs, ${contact.relay.stream.size_mib} MiB, median of ${STREAM_RUNS}`,
        streamResult(contact.relay.stream),
        "≥ 10 MB/s",
      ],
      [
        "revocation through the relay, removal answered → receiver's stream fails (ms)",
        `${spread(contact.relay.revocation_ms.receiver)} (${signed(contact.relay.revocation_ms.b)}; ${codes(contact.relay.revocation_ms.b_codes)}${missed(contact.relay.revocation_ms.missed_b)})`,
        "p99 ≤ 100",
      ],
      ["ping round trip, through the relay (ms)", spread(contact.relay.rtt_ms.relayed), ""],
      ["ping round trip, direct path through two NATs (ms)", spread(contact.relay.rtt_ms.direct), ""],
      [
        "relay's added round trip (median ms; in registry round trips)",
        `${contact.relay.added_rtt_ms.median} (${contact.relay.added_rtt_ms.in_registry_round_trips} of ${contact.relay.rtt_ms.registry_round_trip.median} ms)`,
        "≤ 1 registry round trip",
      ],
    ],
  };
}

const SECTIONS = { loopback, "nat-lab": natLab, "real-path": realPath, capacity } as const;
type SectionName = keyof typeof SECTIONS;

/** The sections `--only a,b` names, in their order; all of them without it; a usage message for anything else. */
function chosenSections(argv: string[]): SectionName[] | string {
  const all = Object.keys(SECTIONS) as SectionName[];
  if (argv.length === 0) return all;
  const only = argv[0] === "--only" && argv.length === 2 ? argv[1]!.split(",") : undefined;
  const unknown = only?.filter((name) => !(all as string[]).includes(name)) ?? [];
  if (!only || unknown.length) return `usage: npm run bench [-- --only <section>[,<section>…]], the sections being ${all.join(", ")}${unknown.length ? `; not ${unknown.join(", ")}` : ""}`;
  return all.filter((name) => only.includes(name));
}

async function main(argv: string[]): Promise<void> {
  const chosen = chosenSections(argv);
  if (typeof chosen === "string") {
    process.stderr.write(`${chosen}\n`);
    process.exitCode = 2;
    return;
  }
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    // What was measured: the working tree may hold changes not yet committed.
    source: execFileSync("git", ["describe", "--always", "--dirty"], { encoding: "utf8" }).trim(),
    sections: chosen,
  };
  const rows: Rows = [["measure", "result", "target"]];
  for (const name of chosen) {
    const section = await SECTIONS[name]();
    Object.assign(results, section.results);
    rows.push(...section.rows);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  mkdirSync("bench-results", { recursive: true });
  const file = join("bench-results", `bench-${String(results["date"]).replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwritten to ${file}`);
}

await main(process.argv.slice(2));
