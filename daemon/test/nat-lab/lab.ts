/**
 * The NAT lab: real kernel networking in network namespaces, for tests whose claims depend on
 * what NATs and firewalls do. An "internet" namespace with a bridge and public-looking addresses
 * from the documentation ranges; home routers (namespaces that masquerade, see router.ts) with
 * agents on their LANs; public agents on the internet itself; the real registry and STUN in the
 * internet namespace; real daemons inside the agents' namespaces. docs/nat-lab.md draws it.
 *
 * The test process stays in the root namespace. It reaches the registry over the lab's uplink, a
 * veth into the internet namespace with a random IPv6 ULA prefix of its own: nothing is routed
 * from the root namespace into the documentation ranges, so two labs can run at once, and pilotctl
 * and the SDK reach the daemons over their sockets, which are files and so in no namespace.
 */
import { randomBytes } from "node:crypto";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run, LineProcess } from "./command.ts";
import { bridge, Namespace, newPrefix, removeStaleLabs, veth } from "./namespaces.ts";
import { LAN, Router, WAN, type NatKind } from "./router.ts";
import { UdpPeer } from "./udp-peer-driver.ts";
import type { InternetHostReady } from "./internet-host.ts";
import { startDaemon, type Daemon } from "../e2e/cluster.ts";
import { Operator } from "../local-registry.ts";

/** The internet: one IPv4 /24 and one IPv6 /64 from the documentation ranges, on one bridge. */
export const INTERNET = { ipv4: "203.0.113.1", ipv6: "2001:db8::1" } as const;
const v4 = (host: number) => `203.0.113.${host}`;
const v6 = (host: number) => `2001:db8::${host.toString(16)}`;
/** A home's IPv6 LAN: 2001:db8:<home number>::/64, routed to its router. */
const homeV6 = (home: number, host: number) => `2001:db8:${home.toString(16)}::${host.toString(16)}`;

/** What `daemon start` gets by default: every IPv4 address of the agent, any port. */
export const LAB_LISTEN = "0.0.0.0:0";

const INTERNET_HOST = fileURLToPath(new URL("./internet-host.ts", import.meta.url));
/** workerd's first start builds the Worker; a busy machine needs a while. */
const INTERNET_HOST_START_MS = 180_000;

export interface InternetHost extends InternetHostReady {
  /** The registry as the test process reaches it (over the uplink): for Operator calls. */
  adminUrl: string;
}

export interface Agent {
  readonly name: string;
  readonly ns: Namespace;
  readonly ipv4: string;
  /** Its global IPv6 address, when it has one. */
  readonly ipv6: string | undefined;
  /** The home whose LAN it is on; none for an agent on the internet itself. */
  readonly home: Home | undefined;
  /** Starts a program (argv) inside the agent's namespace. */
  spawn(argv: string[]): LineProcess;
  /** Starts the lab's plain UDP program here, on all IPv4 (or IPv6) addresses. */
  udp(options?: { ipv6?: boolean; reply?: boolean }): Promise<UdpPeer>;
}

export interface HomeOptions {
  nat: NatKind;
  /** The IPv4 LAN, `a.b.c.0/24` (192.168.1.0/24): two homes may use the same one. */
  lan?: string;
  /** Whether the router drops all UDP from the start (Router.blockUdp). */
  udpBlocked?: boolean;
}

export class Home {
  readonly name: string;
  readonly router: Router;
  /** Its LAN prefixes; the router is .1 (::1) on each. */
  readonly lan: { ipv4: string; ipv6: string };
  readonly #lab: NatLab;
  readonly #number: number;
  readonly #lan24: string;
  /** Host numbers on the internet's /24 and /64; renumbering changes the IPv4 one only. */
  readonly #wanIpv6Host: number;
  #wanHost: number;
  #agents = 0;

  constructor(lab: NatLab, name: string, router: Router, number: number, lan24: string, wanHost: number) {
    this.#lab = lab;
    this.name = name;
    this.router = router;
    this.#number = number;
    this.#lan24 = lan24;
    this.#wanHost = wanHost;
    this.#wanIpv6Host = wanHost;
    this.lan = { ipv4: `${lan24}.0/24`, ipv6: `2001:db8:${number.toString(16)}::/64` };
  }

  /** The router's public addresses (the IPv4 one changes with renumber()). */
  get wan(): { ipv4: string; ipv6: string } {
    return { ipv4: v4(this.#wanHost), ipv6: v6(this.#wanIpv6Host) };
  }

  /** Sets up the router's interfaces: WAN veth into the internet bridge, LAN bridge, routes. */
  async wire(): Promise<void> {
    const ns = this.router.ns;
    const port = `w${this.#number}`;
    await veth(ns, WAN, this.#lab.internet, port);
    await this.#lab.internet.ip("link", "set", port, "master", "br0");
    // Deleting the primary address on renumber must keep the new one (a secondary in the same /24).
    await ns.sysctl(`net/ipv4/conf/${WAN}/promote_secondaries`, 1);
    await ns.ip("addr", "add", `${this.wan.ipv4}/24`, "dev", WAN);
    await ns.ip("addr", "add", `${this.wan.ipv6}/64`, "dev", WAN, "nodad");
    await ns.ip("route", "add", "default", "via", INTERNET.ipv4);
    await ns.ip("-6", "route", "add", "default", "via", INTERNET.ipv6);
    await bridge(ns, LAN);
    await ns.ip("addr", "add", `${this.#lan24}.1/24`, "dev", LAN);
    await ns.ip("addr", "add", `${homeV6(this.#number, 1)}/64`, "dev", LAN, "nodad");
    await this.#lab.internet.ip("-6", "route", "add", this.lan.ipv6, "via", this.wan.ipv6);
  }

  /** An agent on this home's LAN; several agents share the LAN (and so the router's NAT). */
  async agent(name: string, options: { ipv6?: boolean } = {}): Promise<Agent> {
    const host = 2 + this.#agents++;
    const ns = await this.#lab.namespace(name);
    const port = `a${host}`;
    await veth(ns, "eth0", this.router.ns, port);
    await this.router.ns.ip("link", "set", port, "master", LAN);
    const ipv4 = `${this.#lan24}.${host}`;
    await ns.ip("addr", "add", `${ipv4}/24`, "dev", "eth0");
    await ns.ip("route", "add", "default", "via", `${this.#lan24}.1`);
    let ipv6: string | undefined;
    if (options.ipv6) {
      ipv6 = homeV6(this.#number, host);
      await ns.ip("addr", "add", `${ipv6}/64`, "dev", "eth0", "nodad");
      await ns.ip("-6", "route", "add", "default", "via", homeV6(this.#number, 1));
    }
    return this.#lab.adopt(name, ns, ipv4, ipv6, this);
  }

  /**
   * Moves the router to a new public IPv4 address: adds it, then deletes the old one. Linux's
   * masquerade forgets the mappings of a removed address, so the agents' next packets leave from the
   * new one, as when a home's ISP renumbers it or a laptop moves to another network.
   */
  async renumber(): Promise<string> {
    const old = this.wan.ipv4;
    this.#wanHost = this.#lab.nextWanHost();
    const ns = this.router.ns;
    await ns.ip("addr", "add", `${this.wan.ipv4}/24`, "dev", WAN);
    await ns.ip("addr", "del", `${old}/24`, "dev", WAN);
    await ns.ip("route", "replace", "default", "via", INTERNET.ipv4, "dev", WAN);
    return this.wan.ipv4;
  }
}

export interface NatLabOptions {
  /**
   * A TURN server on the internet host (coturn on 203.0.113.1), and the registry configured to hand
   * out credentials for it, as it does for Cloudflare's TURN service (docs/turn.md). Needs coturn.
   */
  turn?: boolean;
}

export class NatLab {
  readonly prefix: string;
  readonly internet: Namespace;
  readonly homes: Home[] = [];
  readonly agents: Agent[] = [];
  readonly #uplink: string;
  readonly #turn: boolean;
  readonly #namespaces: Namespace[] = [];
  readonly #daemons: Daemon[] = [];
  #nextHost = 2;
  #hostProgram?: LineProcess;
  #host?: Promise<InternetHost>;

  private constructor(prefix: string, internet: Namespace, uplink: string, turn: boolean) {
    this.prefix = prefix;
    this.internet = internet;
    this.#uplink = uplink;
    this.#turn = turn;
    this.#namespaces.push(internet);
  }

  /**
   * Why the lab cannot run here, or undefined if it can: it needs root, iproute2's `ip` and
   * nftables' `nft`, and a kernel that lets it make network namespaces (a container may not).
   */
  static async unavailable(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return "the NAT lab needs root (it makes network namespaces and nftables rules)";
    if (!existsSync("/proc/sys/net/ipv6")) return "the NAT lab needs IPv6, which this kernel has off";
    for (const [tool, argv] of [["iproute2's ip", ["ip", "-V"]], ["nftables' nft", ["nft", "--version"]], ["conntrack", ["conntrack", "--version"]]] as const) {
      if (await run([...argv]).then(() => false, () => true)) return `the NAT lab needs ${tool}: apt-get install -y iproute2 nftables conntrack`;
    }
    const probe = new Namespace(`${newPrefix()}.probe`);
    try {
      await run(["ip", "netns", "add", probe.name]);
      await probe.nft("table inet probe { chain c { type nat hook postrouting priority srcnat; masquerade; }; }");
    } catch (e) {
      return `the NAT lab cannot make a namespace with a NAT rule here: ${(e as Error).message}`;
    } finally {
      await probe.delete();
    }
    return undefined;
  }

  /**
   * Builds the internet namespace and the uplink, after removing what crashed runs of the lab left
   * behind (only namespaces named by the lab whose process has ended).
   */
  static async create(options: NatLabOptions = {}): Promise<NatLab> {
    await removeStaleLabs();
    const prefix = newPrefix();
    const internet = await Namespace.create(`${prefix}.net`);
    // The uplink's root end is named after the lab: two labs' uplinks cannot collide.
    const lab = new NatLab(prefix, internet, `fd${randomBytes(5).toString("hex").replace(/(..)(....)(....)/, "$1:$2:$3")}`, options.turn ?? false);
    try {
      await internet.sysctl("net/ipv4/ip_forward", 1);
      await internet.sysctl("net/ipv6/conf/all/forwarding", 1);
      await bridge(internet, "br0");
      await internet.ip("addr", "add", `${INTERNET.ipv4}/24`, "dev", "br0");
      await internet.ip("addr", "add", `${INTERNET.ipv6}/64`, "dev", "br0", "nodad");
      await veth(null, prefix, internet, "up0");
      // The root namespace may have IPv6 off for new interfaces; this one is the lab's own.
      writeFileSync(`/proc/sys/net/ipv6/conf/${prefix}/disable_ipv6`, "0");
      await run(["ip", "addr", "add", `${lab.#uplink}::1/64`, "dev", prefix, "nodad"]);
      await internet.ip("addr", "add", `${lab.#uplink}::2/64`, "dev", "up0", "nodad");
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  /** @internal A namespace of this lab, named after it. */
  async namespace(name: string): Promise<Namespace> {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new Error(`lab names are lowercase letters, digits and "-": ${JSON.stringify(name)}`);
    if (this.#namespaces.some((n) => n.name === `${this.prefix}.${name}`) || name === "net") throw new Error(`the lab already has a "${name}"`);
    const ns = await Namespace.create(`${this.prefix}.${name}`);
    this.#namespaces.push(ns);
    return ns;
  }

  /** @internal The next free host number on the internet's /24 (and /64). */
  nextWanHost(): number {
    if (this.#nextHost > 254) throw new Error("the lab's internet /24 is full");
    return this.#nextHost++;
  }

  /** @internal Records an agent and gives it its methods. */
  adopt(name: string, ns: Namespace, ipv4: string, ipv6: string | undefined, home: Home | undefined): Agent {
    const spawn = (argv: string[]) => new LineProcess([...ns.exec, ...argv]);
    const agent: Agent = {
      name,
      ns,
      ipv4,
      ipv6,
      home,
      spawn,
      udp: (options = {}) => UdpPeer.start(spawn, options.ipv6 ? "::" : "0.0.0.0", { reply: options.reply }),
    };
    this.agents.push(agent);
    return agent;
  }

  /** A home: a router namespace masquerading (as `nat` says) between its LAN and the internet. */
  async home(name: string, options: HomeOptions): Promise<Home> {
    const lan = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.0\/24$/.exec(options.lan ?? "192.168.1.0/24");
    if (!lan) throw new Error(`a home's LAN is an IPv4 /24 written a.b.c.0/24, not ${JSON.stringify(options.lan)}`);
    const router = new Router(await this.namespace(name), options.nat);
    await router.configure();
    if (options.udpBlocked) await router.blockUdp(true);
    const home = new Home(this, name, router, this.homes.length + 1, lan[1]!, this.nextWanHost());
    this.homes.push(home);
    await home.wire();
    return home;
  }

  /** An agent directly on the internet, with a public IPv4 address (and a global IPv6 one if asked). */
  async publicAgent(name: string, options: { ipv6?: boolean } = {}): Promise<Agent> {
    const host = this.nextWanHost();
    const ns = await this.namespace(name);
    const port = `p${host}`;
    await veth(ns, "eth0", this.internet, port);
    await this.internet.ip("link", "set", port, "master", "br0");
    await ns.ip("addr", "add", `${v4(host)}/24`, "dev", "eth0");
    await ns.ip("route", "add", "default", "via", INTERNET.ipv4);
    if (options.ipv6) {
      await ns.ip("addr", "add", `${v6(host)}/64`, "dev", "eth0", "nodad");
      await ns.ip("-6", "route", "add", "default", "via", INTERNET.ipv6);
    }
    return this.adopt(name, ns, v4(host), options.ipv6 ? v6(host) : undefined, undefined);
  }

  /**
   * The internet's server, started once per lab: the real registry and STUN (two IPv4 ports, one
   * IPv6), and the TURN server if the lab was made with one, inside the internet namespace.
   * Resolves once the program says all of them answer.
   */
  internetHost(): Promise<InternetHost> {
    this.#host ??= (async () => {
      const argv = [...this.internet.exec, process.execPath, INTERNET_HOST, INTERNET.ipv4, INTERNET.ipv6, ...(this.#turn ? ["--turn"] : [])];
      const program = (this.#hostProgram = new LineProcess(argv));
      const line = await program.waitFor((lines) => lines.find((l) => l.startsWith("ready ")), "the internet host's servers to be ready in the internet namespace", INTERNET_HOST_START_MS);
      const ready = JSON.parse(line.slice("ready ".length)) as InternetHostReady;
      return { ...ready, adminUrl: `http://[${this.#uplink}::2]` };
    })();
    return this.#host;
  }

  /** A person with an account at the lab's registry, who makes networks and enrollment keys. */
  async operator(): Promise<Operator> {
    const { adminUrl } = await this.internetHost();
    return Operator.signUp(adminUrl);
  }

  /**
   * A real daemon inside the agent's namespace, with its own PILOT_HOME, using the lab's registry
   * and STUN; stopped by close(). `flags` go to `daemon start` after the lab's own; `env` is added
   * to the daemon's environment (its test hooks, say).
   */
  async daemon(agent: Agent, name: string, options: { flags?: string[]; stun?: string; listen?: string; env?: Record<string, string> } = {}): Promise<Daemon> {
    const host = await this.internetHost();
    const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
    const daemon = await startDaemon({
      name,
      registry: host.registryUrl,
      stun: options.stun ?? `${host.stun},${host.stun2}`,
      listen: options.listen ?? LAB_LISTEN,
      flags: options.flags,
      launcher: [...agent.ns.exec, ...(env.length ? ["env", ...env] : [])],
    });
    this.#daemons.push(daemon);
    return daemon;
  }

  /** Stops the daemons and the internet host, and deletes every namespace (their veths go with them). */
  async close(): Promise<void> {
    await Promise.allSettled(this.#daemons.map((d) => d.stop()));
    for (const d of this.#daemons) rmSync(d.home, { recursive: true, force: true });
    await this.#hostProgram?.stop();
    // Namespace.delete ends what is left in each (a daemon that would not stop, a test's programs).
    await Promise.all(this.#namespaces.map((ns) => ns.delete()));
  }
}
