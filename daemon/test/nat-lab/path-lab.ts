/**
 * The path lab: two namespaces joined by one veth pair, the only way between them, whose MTU the
 * test sets and may change while traffic flows. For what a real path's MTU does to the data plane
 * (throughput at 1500 and at 9000, path MTU discovery), where loopback's 64 KiB MTU hides it.
 *
 * It is a NAT lab (lab.ts) without homes: A is the lab's internet namespace, so the registry and
 * STUN run there and the test process reaches the registry over the same uplink; B is one more
 * namespace, whose only link is the veth to A (its default route too). A daemon in A and one in B
 * therefore send every frame to each other across that veth, whichever of A's addresses B uses.
 *
 * Both ends drop IP fragments arriving on the veth by default (an nftables rule, counted): many
 * internet paths drop fragments, and a path that quietly reassembles them would hide a data plane
 * that sends datagrams larger than the path's MTU. With the rule, such datagrams are lost, and the
 * counter says why.
 *
 *   A = <prefix>.net  path 198.51.100.1/24 ──veth, MTU n── path 198.51.100.2/24  B = <prefix>.b
 *                     br0 203.0.113.1 (registry, STUN), uplink to the test process
 */
import { NatLab, type Agent, type InternetHost } from "./lab.ts";
import { run } from "./command.ts";
import { veth, type Namespace } from "./namespaces.ts";
import type { Daemon } from "../e2e/cluster.ts";
import type { Operator } from "../local-registry.ts";

/** The veth's addresses, from TEST-NET-2 (the NAT lab's internet has TEST-NET-3). */
export const PATH = { a: "198.51.100.1", b: "198.51.100.2" } as const;
/** The veth's interface name at both ends. */
export const LINK = "path";

const TABLE = "pathlab";
/** The largest frame the veth carries: a 9,000-byte packet and its Ethernet header. */
const MAX_FRAME_BYTES = 9014;

/**
 * Every IP fragment arriving on the veth, IPv4 (more-fragments flag or an offset) and IPv6 (a
 * fragment header), before the kernel could reassemble it: conntrack's defragmentation hooks in at
 * priority -400, so this chain runs at -500.
 */
const ruleset = `
table inet ${TABLE} {
  counter fragments { }
  chain prerouting {
    type filter hook prerouting priority -500; policy accept;
    iifname "${LINK}" jump fragment_gate
  }
  # Empty while fragments may pass; dropFragments(true) fills it.
  chain fragment_gate {
  }
}
`;
const dropRules = `add rule inet ${TABLE} fragment_gate ip frag-off & 0x3fff != 0 counter name fragments drop
add rule inet ${TABLE} fragment_gate exthdr frag exists counter name fragments drop
`;

export interface PathLabOptions {
  /** The veth's MTU at both ends; 1500 by default. */
  mtu?: number;
  /** Whether IP fragments arriving on the veth are dropped; true by default. */
  dropFragments?: boolean;
}

/** What crossed a link one way: bytes of IP packets, and the packets. */
export interface Traffic {
  bytes: number;
  packets: number;
}

type LinkJson = { mtu: number; stats64?: { rx: Traffic; tx: Traffic } };

export class PathLab {
  /** The NAT lab underneath: its registry, uplink, namespaces and daemons. */
  readonly lab: NatLab;
  /** The internet namespace, with the registry and STUN; its address on the path is PATH.a. */
  readonly a: Agent;
  /** The far end: PATH.b, nothing but the veth. */
  readonly b: Agent;

  private constructor(lab: NatLab, a: Agent, b: Agent) {
    this.lab = lab;
    this.a = a;
    this.b = b;
  }

  /** Why the lab cannot run here (as the NAT lab's), or undefined if it can. */
  static unavailable(): Promise<string | undefined> {
    return NatLab.unavailable();
  }

  /** Builds the NAT lab's internet and uplink, namespace B and the veth, and the fragment rule. */
  static async create(options: PathLabOptions = {}): Promise<PathLab> {
    const lab = await NatLab.create();
    try {
      const a = lab.adopt("a", lab.internet, PATH.a, undefined, undefined);
      const bNs = await lab.namespace("b");
      const b = lab.adopt("b", bNs, PATH.b, undefined, undefined);
      await veth(a.ns, LINK, bNs, LINK);
      await a.ns.ip("addr", "add", `${PATH.a}/24`, "dev", LINK);
      await bNs.ip("addr", "add", `${PATH.b}/24`, "dev", LINK);
      await bNs.ip("route", "add", "default", "via", PATH.a);
      const path = new PathLab(lab, a, b);
      for (const ns of path.#ends) await ns.nft(ruleset);
      await path.setMtu(options.mtu ?? 1500);
      await path.dropFragments(options.dropFragments ?? true);
      return path;
    } catch (e) {
      await lab.close();
      throw e;
    }
  }

  get #ends(): [Namespace, Namespace] {
    return [this.a.ns, this.b.ns];
  }

  /** Sets the veth's MTU at both ends, or at one; traffic may be flowing (a path whose MTU drops mid-transfer). */
  async setMtu(mtu: number, end?: "a" | "b"): Promise<void> {
    const ends = end ? [this[end].ns] : this.#ends;
    await Promise.all(ends.map((ns) => ns.ip("link", "set", LINK, "mtu", String(mtu))));
  }

  async #link(ns: Namespace): Promise<LinkJson> {
    return (JSON.parse(await ns.ip("-j", "-s", "link", "show", LINK)) as LinkJson[])[0]!;
  }

  /** The veth's MTU at each end, as `ip -j link` reports it. */
  async mtu(): Promise<{ a: number; b: number }> {
    const [a, b] = await Promise.all(this.#ends.map((ns) => this.#link(ns)));
    return { a: a!.mtu, b: b!.mtu };
  }

  /** Bytes and packets that crossed the veth each way so far, by B's counters. */
  async crossed(): Promise<{ aToB: Traffic; bToA: Traffic }> {
    const stats = (await this.#link(this.b.ns)).stats64!;
    return { aToB: stats.rx, bToA: stats.tx };
  }

  /**
   * A bottleneck on the way from A to B, as a real path has one: A's end of the veth sends at most
   * `mbit` Mbit/s (headers included), queueing what comes faster for up to `queueMs` and dropping
   * what does not fit (a token bucket filter: tc-tbf). Null takes it away.
   */
  async bottleneck(limit: { mbit: number; queueMs: number } | null): Promise<void> {
    const tc = [...this.a.ns.exec, "tc", "qdisc"];
    if (!limit) return void (await run([...tc, "del", "dev", LINK, "root"]));
    // tbf drops a frame larger than its bucket outright: the bucket holds a jumbo frame, or 2 ms
    // of the rate if more, so a busy sender that wakes late can still reach the rate.
    const burst = Math.max(MAX_FRAME_BYTES, Math.round((limit.mbit * 1e6 * 0.002) / 8));
    await run([...tc, "replace", "dev", LINK, "root", "tbf", "rate", `${limit.mbit}mbit`, "burst", String(burst), "latency", `${limit.queueMs}ms`]);
  }

  /** Packets the bottleneck dropped since it was set, its queue full. */
  async bottleneckDrops(): Promise<number> {
    const [qdisc] = JSON.parse(await run([...this.a.ns.exec, "tc", "-s", "-j", "qdisc", "show", "dev", LINK])) as { kind: string; drops: number }[];
    if (qdisc?.kind !== "tbf") throw new Error(`no bottleneck on ${LINK}: its qdisc is ${qdisc?.kind}`);
    return qdisc.drops;
  }

  /** Drops IP fragments arriving on the veth at both ends (and counts them), or lets them through. */
  async dropFragments(on: boolean): Promise<void> {
    await Promise.all(this.#ends.map((ns) => ns.nft(`flush chain inet ${TABLE} fragment_gate\n${on ? dropRules : ""}`)));
  }

  /** Fragments dropped so far, at both ends together. */
  async fragmentsDropped(): Promise<number> {
    const counts = await Promise.all(
      this.#ends.map(async (ns) => (await ns.nftJson<{ nftables: { counter?: { packets: number } }[] }>("list", "counter", "inet", TABLE, "fragments")).nftables),
    );
    return counts.flat().reduce((sum, o) => sum + (o.counter?.packets ?? 0), 0);
  }

  internetHost(): Promise<InternetHost> {
    return this.lab.internetHost();
  }

  operator(): Promise<Operator> {
    return this.lab.operator();
  }

  /** A daemon in A or B (NatLab.daemon), using the registry and STUN in A. */
  daemon(side: "a" | "b", name: string, options: Parameters<NatLab["daemon"]>[2] = {}): Promise<Daemon> {
    return this.lab.daemon(this[side], name, options);
  }

  /** Stops the daemons and the registry, and deletes both namespaces (the veth goes with them). */
  close(): Promise<void> {
    return this.lab.close();
  }
}
