/**
 * A home router: a namespace with a WAN veth on the internet bridge and a LAN bridge, forwarding
 * on, and one nftables table that does its NAT, its firewall and its counting.
 *
 * IPv4 leaving by the WAN is masqueraded: `port-preserving` keeps the agent's source port while it
 * is free (Linux's default: one mapping per socket whatever the destination, so a hole punch works),
 * `fully-random` picks a random port for every new flow (a symmetric NAT: the port STUN sees is not
 * the port a peer will see, so a hole punch fails). IPv6 is routed, not translated: the home's
 * prefix is global, behind the stateful firewall of a typical home router.
 *
 * Like a home router, it drops what arrives from the internet belonging to no flow that the inside
 * started (counted as `unsolicited`), without an ICMP answer. Dropping it before conntrack confirms
 * it matters too: a confirmed entry for an early packet of a hole punch would take the port the
 * agent's own answer needs, and masquerade would move that answer to another port.
 *
 * Two switches change the router while agents run: `setNat` (its owner reconfigures it) and
 * `blockUdp` (a firewall that lets only TCP through, as corporate networks and some sandboxes do).
 */
import { run } from "./command.ts";
import type { Namespace } from "./namespaces.ts";

export type NatKind = "port-preserving" | "fully-random";

export interface Count {
  packets: number;
  bytes: number;
}

export interface RouterCounters {
  /** UDP forwarded from the LAN to the internet. */
  out: Count;
  /** UDP forwarded from the internet to the LAN. */
  in: Count;
  /** UDP dropped while `blockUdp` is on, either way. */
  blocked: Count;
  /** Packets (UDP, TCP) from the internet that belong to no flow, for the router or for the LAN: dropped. */
  unsolicited: Count;
  /** UDP from the LAN to one of the router's own addresses (a hairpin through its public address): refused. */
  toRouter: Count;
}

/** The WAN and LAN interface names inside every router namespace. */
export const WAN = "wan";
export const LAN = "lan";

const TABLE = "lab";

const masquerade = (nat: NatKind) => `oifname "${WAN}" meta nfproto ipv4 masquerade${nat === "fully-random" ? " fully-random" : ""}`;

function ruleset(nat: NatKind): string {
  return `
table inet ${TABLE} {
  counter out_udp { }
  counter in_udp { }
  counter unsolicited { }
  counter to_router { }
  counter blocked_udp { }
  # UDP forwarded per peer address: the destination going out, the source coming in.
  set out4 { type ipv4_addr; size 65535; flags dynamic; counter; }
  set in4 { type ipv4_addr; size 65535; flags dynamic; counter; }
  set out6 { type ipv6_addr; size 65535; flags dynamic; counter; }
  set in6 { type ipv6_addr; size 65535; flags dynamic; counter; }

  chain forward {
    type filter hook forward priority filter; policy accept;
    meta l4proto udp jump udp_gate
    iifname "${WAN}" ct state { new, invalid, untracked } counter name unsolicited drop
    iifname "${LAN}" oifname "${WAN}" meta l4proto udp counter name out_udp
    iifname "${LAN}" oifname "${WAN}" meta l4proto udp update @out4 { ip daddr }
    iifname "${LAN}" oifname "${WAN}" meta l4proto udp update @out6 { ip6 daddr }
    iifname "${WAN}" oifname "${LAN}" meta l4proto udp counter name in_udp
    iifname "${WAN}" oifname "${LAN}" meta l4proto udp update @in4 { ip saddr }
    iifname "${WAN}" oifname "${LAN}" meta l4proto udp update @in6 { ip6 saddr }
  }

  # Empty while UDP may pass; blockUdp puts a drop here.
  chain udp_gate {
  }

  chain input {
    type filter hook input priority filter; policy accept;
    ct state { established, related } accept
    iifname "${WAN}" meta l4proto { udp, tcp } counter name unsolicited drop
    iifname "${LAN}" meta l4proto udp counter name to_router drop
  }

  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ${masquerade(nat)}
  }
}
`;
}

type NftObject = {
  counter?: { name: string; packets: number; bytes: number };
  set?: { name: string; elem?: { elem: { val: string; counter: Count } }[] };
};

export class Router {
  readonly ns: Namespace;
  #nat: NatKind;

  constructor(ns: Namespace, nat: NatKind) {
    this.ns = ns;
    this.#nat = nat;
  }

  get nat(): NatKind {
    return this.#nat;
  }

  /** Turns forwarding on and loads the table; the interfaces may come later (rules match them by name). */
  async configure(): Promise<void> {
    await this.ns.sysctl("net/ipv4/ip_forward", 1);
    await this.ns.sysctl("net/ipv6/conf/all/forwarding", 1);
    await this.ns.nft(ruleset(this.#nat));
  }

  /**
   * Makes the NAT of another kind for flows from now on, and forgets its UDP flows, as a router does
   * when its owner changes its settings: the agents' next UDP packets get mappings of the new kind.
   * TCP flows (the agents' connections to the registry) keep theirs.
   */
  async setNat(nat: NatKind): Promise<void> {
    await this.ns.nft(`flush chain inet ${TABLE} postrouting\nadd rule inet ${TABLE} postrouting ${masquerade(nat)}\n`);
    // conntrack exits 1 when there was nothing to delete.
    await run([...this.ns.exec, "conntrack", "-D", "-p", "udp"]).catch(() => undefined);
    this.#nat = nat;
  }

  /** Drops every UDP packet crossing the router, either way (counted as `blocked`), or lets UDP through again. */
  async blockUdp(blocked: boolean): Promise<void> {
    await this.ns.nft(`flush chain inet ${TABLE} udp_gate\n${blocked ? `add rule inet ${TABLE} udp_gate counter name blocked_udp drop\n` : ""}`);
  }

  async #table(): Promise<NftObject[]> {
    return (await this.ns.nftJson<{ nftables: NftObject[] }>("list", "table", "inet", TABLE)).nftables;
  }

  async counters(): Promise<RouterCounters> {
    const named = new Map((await this.#table()).flatMap((o) => (o.counter ? [[o.counter.name, { packets: o.counter.packets, bytes: o.counter.bytes }] as const] : [])));
    const get = (name: string): Count => named.get(name) ?? { packets: 0, bytes: 0 };
    return { out: get("out_udp"), in: get("in_udp"), blocked: get("blocked_udp"), unsolicited: get("unsolicited"), toRouter: get("to_router") };
  }

  async #perPeer(direction: "out" | "in"): Promise<Map<string, Count>> {
    const sets = new Set([`${direction}4`, `${direction}6`]);
    const counts = new Map<string, Count>();
    for (const o of await this.#table()) {
      if (!o.set || !sets.has(o.set.name)) continue;
      for (const { elem } of o.set.elem ?? []) counts.set(elem.val, { packets: elem.counter.packets, bytes: elem.counter.bytes });
    }
    return counts;
  }

  /** UDP forwarded from the LAN to `address` (IPv4 or IPv6). */
  async countTo(address: string): Promise<Count> {
    return (await this.#perPeer("out")).get(address) ?? { packets: 0, bytes: 0 };
  }

  /** UDP forwarded to the LAN from `address`. */
  async countFrom(address: string): Promise<Count> {
    return (await this.#perPeer("in")).get(address) ?? { packets: 0, bytes: 0 };
  }

  /** UDP forwarded out, per destination address. */
  sentTo(): Promise<Map<string, Count>> {
    return this.#perPeer("out");
  }

  /** UDP forwarded in, per source address. */
  receivedFrom(): Promise<Map<string, Count>> {
    return this.#perPeer("in");
  }
}
