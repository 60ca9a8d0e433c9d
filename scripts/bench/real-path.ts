/**
 * Section 9 of `npm run bench`, the real path: the path lab (daemon/test/nat-lab/path-lab.ts), two
 * network namespaces joined by one veth whose MTU is set, IP fragments dropped. At MTU 1500 and at
 * 9000, with a fresh pair of daemons each:
 *
 *   - our stream, program → daemon A → veth → daemon B → program, 256 MiB, content checked byte for
 *     byte, median of 3 after at least 5 s of warm-up, with the CPU seconds per GB of each of the
 *     four processes and the packets each way across the veth; then the same between daemons
 *     that send each datagram by itself (PILOT_SEND_BATCHING=off), for what batching gives;
 *   - datagrams of the largest payload one packet of the MTU carries after our overhead, unpaced
 *     (the most that gets through, and what share does), then paced at half that rate;
 *   - wireguard-go on the same veth (TUN interfaces, MTU 80 below the veth's) with iperf3's TCP
 *     through it, median of 3 runs of 5 s, and wireguard-go's own CPU seconds per GB;
 *   - iperf3's TCP on the veth itself, the same way;
 *   - plain UDP between two Node processes across the veth, datagrams the size of our stream's,
 *     with the CPU seconds per GB of each end: what Node's `dgram` alone costs on this path, sent
 *     one by one as Node does by default (in batches the sender outruns the receiver, and its CPU
 *     per GB received means little).
 *
 * Then our stream at MTU 1500 with a 50 ms and a 100 ms round trip: both daemons hold every frame
 * they send 25 or 50 ms (PILOT_TEST_DELAY_MS; this kernel has no netem), which shows the receive
 * window's auto-tuning fill a long path; and at 100 ms through a bottleneck (tc's tbf on A's end,
 * 160 Mbit/s, a 200 ms queue), with the packets its full queue dropped: congestion control where a
 * queue fills, as on the internet. Needs root; installs wireguard-go, wireguard-tools and iperf3
 * when missing.
 */
import { spawnSync } from "node:child_process";
import type { Daemon } from "../../daemon/test/e2e/cluster.ts";
import { LineProcess, run } from "../../daemon/test/nat-lab/command.ts";
import { PATH, PathLab, type Traffic } from "../../daemon/test/nat-lab/path-lab.ts";
import { TUNNEL, WireGuard, WIREGUARD_OVERHEAD } from "../../daemon/test/nat-lab/wireguard.ts";
import { befriend } from "../../daemon/test/wait.ts";
import { HEADER_BYTES } from "../../daemon/src/wire/packet.ts";
import { SEALED_HEADER_BYTES, TAG_BYTES } from "../../daemon/src/wire/tunnel.ts";
import { STREAM_OVERHEAD } from "../../daemon/src/dataplane/tunnel/path-mtus.ts";
import { cpuPerGb, median, medianCpu, progress, round, stolenShare } from "./measure.ts";
import { plainUdp } from "./plain-udp.ts";
import { cpuResult, datagramThroughput, gcResult, STREAM_RUNS, streamResult, streamThroughput } from "./programs.ts";

const MTUS = [1500, 9000] as const;
const STREAM_MB = Number(process.env["BENCH_STREAM_MB"] ?? 256);
/** What each unpaced datagram measure sends, MiB. */
const DATAGRAM_MB = 64;
const IPERF_SECONDS = 5;
const IPERF_RUNS = 3;
/** Each daemon's hold on its frames for the long round trips: 50 and 100 ms there and back. */
const DELAYS_MS = [25, 50] as const;
/**
 * A path with a bottleneck, as internet paths have: 160 Mbit/s (20 MB/s, headers included) out of
 * A, queueing up to 200 ms (twice the bandwidth-delay product at the 100 ms round trip), so what
 * congestion control does there shows (the loss of an overshoot, how much of the link it uses).
 */
const BOTTLENECK = { mbit: 160, queueMs: 200, delayMs: 50 } as const;
/**
 * The most of our stream's data the bottleneck passes, MB/s: its rate counts each frame whole, and
 * a 1,514-byte frame (Ethernet's header, the packet) carries one segment of data.
 */
const BOTTLENECK_DATA_MBPS = ((BOTTLENECK.mbit / 8) * (1500 - 20 - STREAM_OVERHEAD)) / 1514;
/** The stream at each long round trip, MiB, one run: a window-bound stream is slow there. */
const RTT_STREAM_MB = Number(process.env["BENCH_RTT_STREAM_MB"] ?? 256);
const TOOLS = [
  ["wireguard-go", "--version"],
  ["wg", "--version"],
  ["iperf3", "--version"],
] as const;
const PACKAGES = ["wireguard-go", "wireguard-tools", "iperf3"];

/** The largest datagram payload one packet of `mtu` bytes carries: less IPv4, UDP, the sealed frame's header and tag, and our packet header. */
const datagramPayload = (mtu: number) => mtu - 20 - 8 - SEALED_HEADER_BYTES - TAG_BYTES - HEADER_BYTES;

/** Why the section cannot run here, after installing the comparison's tools if they are missing; undefined if it can. */
async function unavailable(): Promise<string | undefined> {
  const lab = await PathLab.unavailable();
  if (lab) return lab;
  const missing = TOOLS.filter(([tool, flag]) => spawnSync(tool, [flag]).error).map(([tool]) => tool);
  if (missing.length === 0) return undefined;
  progress(`${missing.join(", ")} missing: running apt-get install -y ${PACKAGES.join(" ")}`);
  const install = spawnSync("apt-get", ["install", "-y", ...PACKAGES], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return install.status === 0 ? undefined : `installing ${PACKAGES.join(" ")} failed (apt-get exited ${install.status ?? install.error?.message})`;
}

/** iperf3's server in A, for every TCP measure: one at a time, each started from B and lasting IPERF_SECONDS. */
class Iperf {
  readonly #server: LineProcess;
  readonly #lab: PathLab;
  #tests = 0;

  private constructor(lab: PathLab, server: LineProcess) {
    this.#lab = lab;
    this.#server = server;
  }

  static async start(lab: PathLab): Promise<Iperf> {
    const iperf = new Iperf(lab, lab.a.spawn(["iperf3", "--server", "--forceflush"]));
    await iperf.#ready();
    return iperf;
  }

  /** Resolves once the server has said it listens once more than it has run tests: it takes the next one. */
  #ready(): Promise<true> {
    const n = this.#tests;
    return this.#server.waitFor((lines) => (lines.filter((l) => l.startsWith("Server listening")).length > n ? true : undefined), "iperf3's server to listen", 30_000);
  }

  /** IPERF_RUNS runs of TCP from `address` in A to B: each run's MB/s, their median, and the median CPU per GB of `pids`. */
  async measure<K extends string>(address: string, pids: Record<K, number>) {
    const runs: number[] = [];
    const cpu: Record<K, number>[] = [];
    for (let i = 0; i < IPERF_RUNS; i++) {
      const perGb = cpuPerGb(pids);
      // --reverse: the server in A sends and the client in B receives, the way our stream goes.
      const out = await run([...this.#lab.b.ns.exec, "iperf3", "--client", address, "--reverse", "--time", String(IPERF_SECONDS), "--json"]);
      this.#tests++;
      // The client may end before the server has finished with the test: the path (a WireGuard
      // tunnel, torn down next) must stay up until it has, or the server waits for good on a
      // connection whose last packets went nowhere and never listens again.
      await this.#ready();
      const received = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number; bytes: number } } }).end.sum_received;
      cpu.push(perGb(received.bytes));
      runs.push(round(received.bits_per_second / 8 / 1e6));
      progress(`iperf3 to ${address} run ${i + 1}: ${runs.at(-1)} MB/s`);
    }
    return { seconds: IPERF_SECONDS, median_mbps: median(runs), runs_mbps: runs, cpu_s_per_gb: medianCpu(cpu) };
  }

  stop(): Promise<void> {
    return this.#server.stop();
  }
}

/**
 * Daemons in A and B that trust each other, on a direct path across the veth: checked once the
 * first datagram has opened the tunnel, as `pilotctl peers` shows it.
 */
async function pair(lab: PathLab, name: string, env?: Record<string, string>): Promise<[Daemon, Daemon]> {
  const [a, b] = [await lab.daemon("a", `${name}-a`, { env }), await lab.daemon("b", `${name}-b`, { env })];
  // The measure is labelled by how the daemons send: one that could not batch would be mislabelled.
  const batching = env?.["PILOT_SEND_BATCHING"] !== "off";
  for (const d of [a, b]) {
    if ((await d.call("info")).send_batching === batching) continue;
    await Promise.all([a.stop(), b.stop()]);
    throw new Error(`${name}: expected daemons that ${batching ? "send in batches" : "send one by one"}; see ${d.home}/pilot.log`);
  }
  await befriend(a, b, "benchmark");
  await a.run("ping", String(b.nodeId), "--count", "1");
  const peer = ((await a.run("peers"))["peers"] as { node_id: number; path: string; endpoint: string | null }[]).find((p) => p.node_id === b.nodeId);
  if (peer?.path !== "direct" || !peer.endpoint?.startsWith(`${PATH.b}:`)) throw new Error(`${name}: expected a direct path to ${PATH.b}, found ${JSON.stringify(peer)}`);
  return [a, b];
}

async function atMtu(lab: PathLab, iperf: Iperf, mtu: number) {
  await lab.setMtu(mtu);
  const [fragmentsBefore, veth] = [await lab.fragmentsDropped(), await lab.crossed()];
  const [a, b] = await pair(lab, `mtu${mtu}`);
  progress(`MTU ${mtu}: encrypted stream, ${STREAM_MB} MiB × ${STREAM_RUNS} runs`);
  const stream = await streamThroughput(a, b, STREAM_MB);
  const afterStream = await lab.crossed();
  const payload = datagramPayload(mtu);
  const count = Math.ceil((DATAGRAM_MB << 20) / payload);
  progress(`MTU ${mtu}: encrypted datagrams, ${count} × ${payload} B, unpaced`);
  const unpaced = await datagramThroughput(a, b, { payload, count });
  const pace = round(unpaced.mbps / 2);
  progress(`MTU ${mtu}: ${unpaced.mbps} MB/s, ${unpaced.delivered}% delivered; now paced at ${pace} MB/s`);
  const paced = await datagramThroughput(a, b, { payload, count, mbps: pace });
  progress(`MTU ${mtu}: paced, ${paced.mbps} MB/s, ${paced.delivered}% delivered`);
  const crossed = await lab.crossed();
  await Promise.all([a.stop(), b.stop()]);

  progress(`MTU ${mtu}: encrypted stream between daemons sending each datagram by itself (PILOT_SEND_BATCHING=off), ${STREAM_MB} MiB × ${STREAM_RUNS} runs`);
  const [c, d] = await pair(lab, `mtu${mtu}-one-by-one`, { PILOT_SEND_BATCHING: "off" });
  const oneByOne = await streamThroughput(c, d, STREAM_MB);
  await Promise.all([c.stop(), d.stop()]);

  progress(`MTU ${mtu}: wireguard-go, interface MTU ${mtu - WIREGUARD_OVERHEAD}, iperf3 TCP through it`);
  const wg = await WireGuard.start(lab);
  const wireguard = await iperf.measure(TUNNEL.a, { wireguard_go_a: wg.pids.a, wireguard_go_b: wg.pids.b }).finally(() => wg.stop());
  progress(`MTU ${mtu}: iperf3 TCP on the veth itself`);
  const tcp = await iperf.measure(PATH.a, {});
  // Datagrams as large as one packet of the MTU carries (less IPv4's and UDP's headers), as many as the stream's bytes.
  const size = mtu - 20 - 8;
  const datagrams = Math.ceil((STREAM_MB << 20) / size);
  progress(`MTU ${mtu}: plain UDP between two Node processes, ${datagrams} × ${size} B, unpaced`);
  const udp = await plainUdp({ host: PATH.b, size, count: datagrams, sender: lab.a.ns.exec, receiver: lab.b.ns.exec });
  return {
    mtu,
    stream: {
      ...stream,
      ratio_to_wireguard_go: round(stream.median_mbps / wireguard.median_mbps),
      ratio_to_tcp: round(stream.median_mbps / tcp.median_mbps),
      ratio_to_plain_udp: udp.mbps ? round(stream.median_mbps / udp.mbps) : null,
      packets: streamPackets(veth, afterStream),
      one_by_one: { median_mbps: oneByOne.median_mbps, runs_mbps: oneByOne.runs.map((r) => r.mbps), intact: oneByOne.intact, cpu_s_per_gb: oneByOne.cpu_s_per_gb },
      ratio_to_one_by_one: round(stream.median_mbps / oneByOne.median_mbps),
    },
    datagrams: { payload_bytes: payload, unpaced, paced, ratio_to_stream: round(unpaced.mbps / stream.median_mbps) },
    wireguard_go: { interface_mtu: mtu - WIREGUARD_OVERHEAD, ...wireguard },
    tcp: { median_mbps: tcp.median_mbps, runs_mbps: tcp.runs_mbps },
    plain_udp: udp,
    // The witnesses: our measures' bytes crossed the veth, and how many fragments it dropped meanwhile.
    veth_bytes_during_ours: { a_to_b: crossed.aToB.bytes - veth.aToB.bytes, b_to_a: crossed.bToA.bytes - veth.bToA.bytes },
    fragments_dropped: (await lab.fragmentsDropped()) - fragmentsBefore,
  };
}

/**
 * Packets across the veth each way during the stream's runs (warm-up included): nearly all of
 * B's to A are acknowledgements, each one a send and a receive beside the data's.
 */
function streamPackets(before: { aToB: Traffic; bToA: Traffic }, after: { aToB: Traffic; bToA: Traffic }) {
  const [aToB, bToA] = [after.aToB.packets - before.aToB.packets, after.bToA.packets - before.bToA.packets];
  return { a_to_b: aToB, b_to_a: bToA, b_to_a_per_a_to_b: round(bToA / aToB) };
}

/** Our stream at MTU 1500 between daemons (a fresh pair, named `name`) that each hold their frames `delayMs`: one run. */
async function longRoundTrip(lab: PathLab, delayMs: number, name = `rtt${2 * delayMs}`) {
  await lab.setMtu(1500);
  const [a, b] = await pair(lab, name, { PILOT_TEST_DELAY_MS: String(delayMs) });
  const pings = ((await a.run("ping", String(b.nodeId), "--count", "5"))["results"] as { rtt_ms?: number }[]).flatMap((r) => (r.rtt_ms === undefined ? [] : [r.rtt_ms]));
  progress(`MTU 1500, ${2 * delayMs} ms round trip (ping median ${median(pings)} ms): encrypted stream, ${RTT_STREAM_MB} MiB, one run`);
  const stream = await streamThroughput(a, b, RTT_STREAM_MB, 1);
  await Promise.all([a.stop(), b.stop()]);
  return { delay_ms_each_way: delayMs, ping_rtt_ms: median(pings), stream };
}

/**
 * How much of a core each daemon kept busy during the run: on a long path a daemon near 1 is what
 * holds the stream back (its socket's acknowledgements wait while it works), not the window.
 */
const daemonsBusy = (s: { median_mbps: number; cpu_s_per_gb: { daemon_a: number; daemon_b: number } }) =>
  `daemon A busy ${round((s.cpu_s_per_gb.daemon_a * s.median_mbps) / 1000)} of a core, B ${round((s.cpu_s_per_gb.daemon_b * s.median_mbps) / 1000)}`;

/** The 100 ms round trip (longRoundTrip) through the bottleneck, and the packets the bottleneck dropped. */
async function throughBottleneck(lab: PathLab) {
  await lab.bottleneck(BOTTLENECK);
  try {
    progress(`through a ${BOTTLENECK.mbit} Mbit/s bottleneck with a ${BOTTLENECK.queueMs} ms queue:`);
    const before = await lab.crossed();
    const measured = await longRoundTrip(lab, BOTTLENECK.delayMs, "bottleneck");
    // Over the warm-up and the run together: the packets that left A, and those the bottleneck dropped.
    const [drops, after] = [await lab.bottleneckDrops(), await lab.crossed()];
    const crossed = after.aToB.packets - before.aToB.packets;
    return {
      ...measured,
      bottleneck_mbit: BOTTLENECK.mbit,
      queue_ms: BOTTLENECK.queueMs,
      data_ceiling_mbps: round(BOTTLENECK_DATA_MBPS),
      share_of_ceiling: round(measured.stream.median_mbps / BOTTLENECK_DATA_MBPS),
      packets_dropped: drops,
      dropped_percent: round((100 * drops) / (drops + crossed)),
    };
  } finally {
    await lab.bottleneck(null);
  }
}

export async function realPath(): Promise<{ results: Record<string, unknown>; rows: string[][] }> {
  const startedAt = performance.now();
  const stolen = stolenShare();
  const missing = await unavailable();
  if (missing) {
    progress(`the real path skipped: ${missing}`);
    return { results: { real_path: { skipped: missing } }, rows: [["real path (path lab)", `skipped: ${missing}`, ""]] };
  }
  progress("the real path: building the path lab (two namespaces, one veth, fragments dropped) with the registry in A");
  const lab = await PathLab.create();
  try {
    await lab.internetHost();
    const iperf = await Iperf.start(lab);
    const byMtu = [];
    try {
      for (const mtu of MTUS) byMtu.push(await atMtu(lab, iperf, mtu));
    } finally {
      await iperf.stop();
    }
    const delayed = [];
    for (const delayMs of DELAYS_MS) delayed.push(await longRoundTrip(lab, delayMs));
    const bottleneck = await throughBottleneck(lab);
    const seconds = Math.round((performance.now() - startedAt) / 1000);
    const steal = stolen();
    progress(`the real path took ${seconds} s, ${(steal * 100).toFixed(1)} % of the CPU time stolen by the hypervisor`);
    const rows = byMtu.flatMap((m) => {
      const at = `real path, MTU ${m.mtu}:`;
      return [
        [`${at} encrypted stream, ${STREAM_MB} MiB, median of ${STREAM_RUNS}`, streamResult(m.stream), m.mtu === 1500 ? "≥ 89 MB/s" : "≥ 3 × 89 MB/s"],
        [`${at} wireguard-go, iperf3 TCP, ${IPERF_SECONDS} s, median of ${IPERF_RUNS}`, `${m.wireguard_go.median_mbps} MB/s (runs ${m.wireguard_go.runs_mbps.join(", ")})`, ""],
        [`${at} plain TCP on the veth, iperf3, median of ${IPERF_RUNS}`, `${m.tcp.median_mbps} MB/s (runs ${m.tcp.runs_mbps.join(", ")})`, ""],
        [`${at} encrypted stream / wireguard-go`, `${m.stream.ratio_to_wireguard_go}`, m.mtu === 1500 ? "≥ 1.5" : ""],
        [`${at} CPU s per GB, our stream`, cpuResult(m.stream.cpu_s_per_gb), ""],
        [`${at} encrypted stream, daemons sending each datagram by itself (PILOT_SEND_BATCHING=off)`, streamResult({ ...m.stream.one_by_one, runs: m.stream.one_by_one.runs_mbps.map((mbps) => ({ mbps })) }), ""],
        [`${at} CPU s per GB, that stream`, cpuResult(m.stream.one_by_one.cpu_s_per_gb), ""],
        [`${at} encrypted stream, in batches / one by one`, `${m.stream.ratio_to_one_by_one}`, ""],
        [`${at} full GCs per GB, our daemons`, gcResult(m.stream.major_gcs_per_gb), ""],
        [`${at} CPU s per GB, wireguard-go`, `A ${m.wireguard_go.cpu_s_per_gb.wireguard_go_a} · B ${m.wireguard_go.cpu_s_per_gb.wireguard_go_b}`, ""],
        [`${at} plain UDP between two Node processes, ${m.plain_udp.payload_bytes} B, unpaced`, `${m.plain_udp.mbps} MB/s (${m.plain_udp.delivered}% delivered)`, ""],
        [`${at} CPU s per GB, plain UDP (the platform's own cost)`, m.plain_udp.cpu_s_per_gb ? `sender ${m.plain_udp.cpu_s_per_gb.sender} · receiver ${m.plain_udp.cpu_s_per_gb.receiver}` : "nothing arrived", ""],
        [`${at} encrypted stream / plain UDP`, `${m.stream.ratio_to_plain_udp}`, ""],
        [`${at} packets B → A per packet A → B, our stream (its acknowledgements)`, `${m.stream.packets.b_to_a_per_a_to_b}`, ""],
        [`${at} encrypted datagrams, ${m.datagrams.payload_bytes} B, unpaced`, `${m.datagrams.unpaced.mbps} MB/s (${m.datagrams.unpaced.delivered}% delivered)`, ""],
        [`${at} encrypted datagrams, ${m.datagrams.payload_bytes} B, paced at ${m.datagrams.paced.offered_mbps} MB/s`, `${m.datagrams.paced.mbps} MB/s (${m.datagrams.paced.delivered}% delivered)`, ""],
        [`${at} encrypted datagrams unpaced / stream`, `${m.datagrams.ratio_to_stream}`, "≥ 0.5"],
        [`${at} IP fragments dropped during all of it`, `${m.fragments_dropped}`, ""],
      ];
    });
    rows.push(
      ...delayed.map((d) => [
        `real path, MTU 1500, ${2 * d.delay_ms_each_way} ms round trip: encrypted stream, ${RTT_STREAM_MB} MiB, one run`,
        `${streamResult(d.stream)}, ping ${d.ping_rtt_ms} ms; ${daemonsBusy(d.stream)}`,
        "",
      ]),
      [
        `real path, MTU 1500, ${2 * bottleneck.delay_ms_each_way} ms round trip, a ${bottleneck.bottleneck_mbit} Mbit/s bottleneck (${bottleneck.queue_ms} ms queue): encrypted stream, ${RTT_STREAM_MB} MiB, one run`,
        `${streamResult(bottleneck.stream)}, ${bottleneck.share_of_ceiling} of the ${bottleneck.data_ceiling_mbps} MB/s of data it can pass; ${bottleneck.packets_dropped} packets dropped there (${bottleneck.dropped_percent} %, warm-up included); ${daemonsBusy(bottleneck.stream)}`,
        "",
      ],
      ["real path: the section's time", `${seconds} s`, ""],
      ["real path: CPU time the hypervisor gave to other machines (steal)", `${(steal * 100).toFixed(1)} %`, "near 0 for figures worth quoting"],
    );
    return { results: { real_path: { seconds, steal_share: round(steal * 1000) / 1000, by_mtu: byMtu, rtt_50ms: delayed[0], rtt_100ms: delayed[1], bottleneck } }, rows };
  } finally {
    await lab.close();
  }
}
