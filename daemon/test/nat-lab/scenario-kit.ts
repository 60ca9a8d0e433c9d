/**
 * What the daemon scenarios in the NAT lab (scenarios.test.ts, relay-scenarios.test.ts, turn.test.ts)
 * do over and over: a lab for a file's scenarios, daemons that share a network, pings, a datagram, a
 * stream checked by SHA-256, and the path a tunnel takes as `pilotctl peers` shows it.
 */
import { afterAll, beforeAll, expect } from "vitest";
import type { Network } from "@pilot/protocol";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import type { Daemon } from "../e2e/cluster.ts";
import { pattern, readAll, sha, writeAll } from "../e2e/transfer.ts";
import { waitFor, within } from "../wait.ts";
import { NatLab, type Agent, type Home } from "./lab.ts";

/** Several daemon starts, handshakes and waits on a busy 2-core machine: a hang guard only. */
export const SCENARIO_MS = 240_000;

/**
 * Why the lab cannot run here, after saying so on the console, or undefined if it can. Root, ip and
 * nft are needed to build namespaces and NAT rules; CI runs as root and installs the tools (.ci/run).
 */
export async function labUnavailable(what: string): Promise<string | undefined> {
  const unavailable = await NatLab.unavailable();
  if (unavailable) console.warn(`${what} skipped: ${unavailable}`);
  return unavailable;
}

/** One lab with its internet host for all the scenarios of the enclosing describe: built before them, taken down after. */
export function labForScenarios(built: (lab: NatLab) => void): void {
  let lab: NatLab | undefined;
  beforeAll(async () => {
    lab = await NatLab.create();
    await lab.internetHost();
    built(lab);
  }, 240_000);
  afterAll(() => lab?.close(), 120_000);
}

let lastPort = 3000;
/** A port no other scenario in this process listens on. */
export const freshPort = () => ++lastPort;

/**
 * Daemons on two agents (with these hostnames), members of one new network, each in sync with it.
 * Each network has an operator of its own (a free account holds one network).
 */
export async function members(lab: NatLab, ...agents: [[Agent, string], [Agent, string]]): Promise<[Daemon, Daemon]> {
  const operator = await lab.operator();
  return membersOf(lab, await operator.createNetwork(), ...agents);
}

/** The same, in a given network. */
export async function membersOf(lab: NatLab, net: Network, ...agents: [[Agent, string], [Agent, string]]): Promise<[Daemon, Daemon]> {
  const start = async ([agent, hostname]: [Agent, string]) => {
    const d = await lab.daemon(agent, hostname, { flags: ["--hostname", hostname] });
    await d.run("join-network", String(net.network_id), "--token", net.join!.token);
    return d;
  };
  const daemons: [Daemon, Daemon] = [await start(agents[0]), await start(agents[1])];
  for (const d of daemons) {
    const synced = async () => (await d.call("info")).networks.some((n) => n.network_id === net.network_id && n.synced);
    await waitFor(synced, `${d.name} to be in sync with its network`, 60_000);
  }
  return daemons;
}

/** Three pings from one daemon to another; what each came to. */
export async function ping(from: Daemon, to: Daemon): Promise<{ rtt_ms?: number; error?: string }[]> {
  return (await from.run("ping", String(to.nodeId), "--count", "3"))["results"];
}

/** What `ping` returns when every one of its three pings was answered. */
export const ALL_ANSWERED = [0, 1, 2].map((seq) => ({ seq, rtt_ms: expect.any(Number) }));

/** A datagram from one daemon to another, through the SDK on the receiving side; resolves once delivered. */
export async function datagram(from: Daemon, to: Daemon, text: string): Promise<void> {
  const port = freshPort();
  const pilot = await Pilot.connect(to.home);
  try {
    const got: string[] = [];
    await pilot.receiveDatagrams(port, (d) => got.push(d.data.toString()));
    await from.run("send-datagram", String(to.nodeId), String(port), "--data", text);
    await waitFor(() => got.includes(text), `"${text}" to reach ${to.name}`);
  } finally {
    pilot.close();
  }
}

/** Both routers forwarded UDP to and from each other's public address: the path went router to router. */
export async function routerToRouter(h1: Home, h2: Home): Promise<void> {
  for (const [home, peer] of [[h1, h2], [h2, h1]] as const) {
    expect((await home.router.countTo(peer.wan.ipv4)).packets, `${home.name} to ${peer.name}`).toBeGreaterThan(0);
    expect((await home.router.countFrom(peer.wan.ipv4)).packets, `${peer.name} to ${home.name}`).toBeGreaterThan(0);
  }
}

/** The path `d` shows for its tunnel to `peer` in `pilotctl peers`. */
export async function pathTo(d: Daemon, peer: Daemon): Promise<string | undefined> {
  return ((await d.run("peers"))["peers"] as { node_id: number; path: string }[]).find((p) => p.node_id === peer.nodeId)?.path;
}

/**
 * A stream connection from `from` to node `toId` (whose programs `to` reaches), on a fresh port: the
 * dialing end and the accepted one. With `errors`, either end's error is kept there, not thrown.
 */
export async function connection(from: Pilot, to: Pilot, toId: number, errors?: unknown[]): Promise<{ writer: PilotConnection; reader: PilotConnection }> {
  const port = freshPort();
  let accepted!: (conn: PilotConnection) => void;
  const conn = new Promise<PilotConnection>((resolve) => (accepted = resolve));
  await to.listen(port, (c) => accepted(c));
  const writer = await from.dial(toId, port);
  const reader = await conn;
  if (errors) for (const c of [writer, reader]) c.on("error", (e) => errors.push(e));
  return { writer, reader };
}

/**
 * Stops `target` with four idle connections to it from `from`'s program, and expects each to hear
 * connection_reset: only the RSTs a stopping daemon sends bring that within 30 s (an idle
 * connection learns of a lost peer by timeouts, a minute or more later).
 */
export async function resetsWhenStopped(from: Daemon, target: Daemon): Promise<void> {
  const [pf, pt] = [await Pilot.connect(from.home), await Pilot.connect(target.home)];
  try {
    const port = freshPort();
    await pt.listen(port, (conn) => conn.on("error", () => undefined));
    const idle = await Promise.all(Array.from({ length: 4 }, () => pf.dial(target.nodeId, port)));
    const failed = Promise.all(idle.map((c) => new Promise<unknown>((resolve) => c.on("error", resolve))));
    await target.stop();
    expect(await within(`every connection to ${target.name} to fail`, failed, 30_000)).toEqual(idle.map(() => expect.objectContaining({ code: "connection_reset" })));
  } finally {
    pf.close();
    pt.close();
  }
}

/** `size` bytes from `from` to `to` over one stream through the SDK, checked by SHA-256 on arrival. */
export async function stream(from: Pilot, to: Pilot, toId: number, size: number, seed: number): Promise<void> {
  const data = pattern(size, seed);
  const { writer, reader } = await connection(from, to, toId);
  const read = readAll(reader);
  await writeAll(writer, data);
  expect(await within(`${size} bytes to arrive`, read, 180_000)).toEqual({ hash: sha(data), bytes: size });
  // Both ends closed here: a connection left open would fail when the lab stops its daemon.
  for (const c of [writer, reader]) c.destroy();
}
