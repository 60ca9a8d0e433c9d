import { evaluate, type PolicyState, type TransportProtocol, type Verdict } from "@pilot/protocol";

/** A network in sync: its other members, and its port policy with every member's tags. */
interface SyncedNetwork {
  members: Set<number>;
  policy: PolicyState;
}

/**
 * Who may reach this node (enforced at three points: docs/security.md): a peer it trusts, or a co-member of a network whose
 * push channel is in sync. A network whose channel is down grants nothing until it has been
 * resynchronised, so a removal missed while disconnected can never be honoured late.
 *
 * Trust may have an end: every decision compares it with the clock, so trust grants nothing from
 * its end even before anyone has removed it (the timer that does, in trust.ts, may run late).
 *
 * A network grants its members only the ports its policy allows them towards this node; trust and
 * being public grant every port. Each network is asked on its own (a peer allowed port 80 by one
 * network and port 22 by another may open both, but no network's tags count in another's rules).
 * Tunnels are set up peer by peer (`related`); ports are checked at connection accept and
 * datagram delivery.
 */
export class AccessList {
  /** Everyone, when the node is public. */
  public = false;
  /** Told of each peer that a change may have let in. */
  readonly #onGrant: (peer: number) => void;
  /** This node's ID, whose tags a policy's `to` is matched against. */
  readonly #me: () => number;
  readonly #now: () => number;

  constructor(onGrant: (peer: number) => void = () => undefined, me: () => number = () => 0, now: () => number = Date.now) {
    this.#onGrant = onGrant;
    this.#me = me;
    this.#now = now;
  }
  /** Trusted peers, each with the end of its trust (ms since the epoch) or null for none. */
  readonly #trusted = new Map<number, number | null>();
  /** Networks present only while their channel is in sync. */
  readonly #networks = new Map<number, SyncedNetwork>();

  /** Whether the peer may reach this node at all (no port given), or on this port by this protocol. */
  allows(peer: number): boolean;
  allows(peer: number, port: number, protocol: TransportProtocol): boolean;
  allows(peer: number, port?: number, protocol?: TransportProtocol): boolean {
    if (this.public || this.#trusts(peer)) return true;
    if (port === undefined || protocol === undefined) return this.related(peer);
    const mine = (tags: PolicyState["tags"]) => tags[String(this.#me())] ?? [];
    for (const { members, policy } of this.#networks.values()) {
      if (members.has(peer) && evaluate(policy, policy.tags[String(peer)] ?? [], mine(policy.tags), port, protocol).allowed) return true;
    }
    return false;
  }

  /**
   * Whether this node may reach the peer's port, as the peer's daemon will judge it by each network
   * they share (both hold the same policy and tags): for `pilotctl why`. Trust and the peer being
   * public are not considered here; only the networks' verdicts, in network ID order.
   */
  reachVerdicts(peer: number, port: number, protocol: TransportProtocol): ({ network_id: number } & Verdict)[] {
    const tagsOf = (policy: PolicyState, node: number) => policy.tags[String(node)] ?? [];
    return this.networksOf(peer).map((id) => {
      const { policy } = this.#networks.get(id)!;
      return { network_id: id, ...evaluate(policy, tagsOf(policy, this.#me()), tagsOf(policy, peer), port, protocol) };
    });
  }

  /** Whether the peer is trusted or a co-member: allowed for more than this node being public. */
  related(peer: number): boolean {
    if (this.#trusts(peer)) return true;
    for (const { members } of this.#networks.values()) if (members.has(peer)) return true;
    return false;
  }

  /** Replaces the trusted peers: bare node IDs, or [node ID, end of trust or null]. */
  setTrusted(peers: Iterable<number | readonly [number, number | null]>): void {
    this.#trusted.clear();
    for (const p of peers) {
      const [peer, endsAt] = typeof p === "number" ? [p, null] : p;
      this.trust(peer, endsAt);
    }
  }

  /** Trusts a peer, until `endsAt` (ms since the epoch) or without end. */
  trust(peer: number, endsAt: number | null = null): void {
    this.#trusted.set(peer, endsAt);
    this.#onGrant(peer);
  }

  untrust(peer: number): void {
    this.#trusted.delete(peer);
  }

  /** The peers trusted now: trust that has reached its end is left out. */
  trusted(): number[] {
    return [...this.#trusted.keys()].filter((p) => this.#trusts(p));
  }

  #trusts(peer: number): boolean {
    const endsAt = this.#trusted.get(peer);
    return endsAt !== undefined && (endsAt === null || endsAt > this.#now());
  }

  /** The network's channel is in sync again, with these members and this policy. */
  syncNetwork(networkId: number, members: Iterable<number>, policy: PolicyState): void {
    const set = new Set(members);
    this.#networks.set(networkId, { members: set, policy });
    set.forEach(this.#onGrant);
  }

  /** The network's policy or its members' tags changed: the whole of it replaces what was held. Ignored for a network not in sync. */
  setPolicy(networkId: number, policy: PolicyState): void {
    const network = this.#networks.get(networkId);
    if (network) network.policy = policy;
  }

  /** The revision of the policy held for a network in sync; undefined for one that is not. */
  policyRevision(networkId: number): number | undefined {
    return this.#networks.get(networkId)?.policy.revision;
  }

  /** The network's channel dropped (or the node left): its members are no longer vouched for. */
  forgetNetwork(networkId: number): number[] {
    const network = this.#networks.get(networkId);
    this.#networks.delete(networkId);
    return network ? [...network.members] : [];
  }

  /** A member joined, with these effective tags. */
  addMember(networkId: number, peer: number, tags: string[] = []): void {
    const network = this.#networks.get(networkId);
    if (!network) return;
    network.members.add(peer);
    network.policy = { ...network.policy, tags: { ...network.policy.tags, [peer]: tags } };
    this.#onGrant(peer);
  }

  removeMember(networkId: number, peer: number): void {
    this.#networks.get(networkId)?.members.delete(peer);
  }

  syncedNetworks(): number[] {
    return [...this.#networks.keys()];
  }

  /** The networks in sync that have the peer among their members, in order. */
  networksOf(peer: number): number[] {
    return [...this.#networks].flatMap(([id, { members }]) => (members.has(peer) ? [id] : [])).sort((a, b) => a - b);
  }
}
