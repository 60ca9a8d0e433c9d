/**
 * Who may reach this node (enforced at three points: docs/security.md): a peer it trusts, or a co-member of a network whose
 * push channel is in sync. A network whose channel is down grants nothing until it has been
 * resynchronised, so a removal missed while disconnected can never be honoured late.
 *
 * Trust may have an end: every decision compares it with the clock, so trust grants nothing from
 * its end even before anyone has removed it (the timer that does, in trust.ts, may run late).
 */
export class AccessList {
  /** Everyone, when the node is public. */
  public = false;
  /** Told of each peer that a change may have let in. */
  readonly #onGrant: (peer: number) => void;
  readonly #now: () => number;

  constructor(onGrant: (peer: number) => void = () => undefined, now: () => number = Date.now) {
    this.#onGrant = onGrant;
    this.#now = now;
  }
  /** Trusted peers, each with the end of its trust (ms since the epoch) or null for none. */
  readonly #trusted = new Map<number, number | null>();
  /** Members of each network, present only while that network's channel is in sync. */
  readonly #networks = new Map<number, Set<number>>();

  allows(peer: number): boolean {
    return this.public || this.related(peer);
  }

  /** Whether the peer is trusted or a co-member: allowed for more than this node being public. */
  related(peer: number): boolean {
    if (this.#trusts(peer)) return true;
    for (const members of this.#networks.values()) if (members.has(peer)) return true;
    return false;
  }

  /** Whether access to the peer would come only from the network being changed. */
  grantedOnlyBy(peer: number, networkId: number): boolean {
    if (this.public || this.#trusts(peer)) return false;
    for (const [id, members] of this.#networks) if (id !== networkId && members.has(peer)) return false;
    return true;
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

  /** The network's channel is in sync again, with these members. */
  syncNetwork(networkId: number, members: Iterable<number>): void {
    const set = new Set(members);
    this.#networks.set(networkId, set);
    set.forEach(this.#onGrant);
  }

  /** The network's channel dropped (or the node left): its members are no longer vouched for. */
  forgetNetwork(networkId: number): number[] {
    const members = this.#networks.get(networkId);
    this.#networks.delete(networkId);
    return members ? [...members] : [];
  }

  addMember(networkId: number, peer: number): void {
    const members = this.#networks.get(networkId);
    if (!members) return;
    members.add(peer);
    this.#onGrant(peer);
  }

  removeMember(networkId: number, peer: number): void {
    this.#networks.get(networkId)?.delete(peer);
  }

  syncedNetworks(): number[] {
    return [...this.#networks.keys()];
  }

  /** The networks in sync that have the peer among their members, in order. */
  networksOf(peer: number): number[] {
    return [...this.#networks].flatMap(([id, members]) => (members.has(peer) ? [id] : [])).sort((a, b) => a - b);
  }
}
