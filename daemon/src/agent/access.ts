/**
 * Who may reach this node (enforced at three points: docs/security.md): a peer it trusts, or a co-member of a network whose
 * push channel is in sync. A network whose channel is down grants nothing until it has been
 * resynchronised, so a removal missed while disconnected can never be honoured late.
 */
export class AccessList {
  /** Everyone, when the node is public. */
  public = false;
  /** Told of each peer that a change may have let in. */
  readonly #onGrant: (peer: number) => void;

  constructor(onGrant: (peer: number) => void = () => undefined) {
    this.#onGrant = onGrant;
  }
  readonly #trusted = new Set<number>();
  /** Members of each network, present only while that network's channel is in sync. */
  readonly #networks = new Map<number, Set<number>>();

  allows(peer: number): boolean {
    return this.public || this.related(peer);
  }

  /** Whether the peer is trusted or a co-member: allowed for more than this node being public. */
  related(peer: number): boolean {
    if (this.#trusted.has(peer)) return true;
    for (const members of this.#networks.values()) if (members.has(peer)) return true;
    return false;
  }

  /** Whether access to the peer would come only from the network being changed. */
  grantedOnlyBy(peer: number, networkId: number): boolean {
    if (this.public || this.#trusted.has(peer)) return false;
    for (const [id, members] of this.#networks) if (id !== networkId && members.has(peer)) return false;
    return true;
  }

  setTrusted(peers: Iterable<number>): void {
    this.#trusted.clear();
    for (const p of peers) this.trust(p);
  }

  trust(peer: number): void {
    this.#trusted.add(peer);
    this.#onGrant(peer);
  }

  untrust(peer: number): void {
    this.#trusted.delete(peer);
  }

  trusted(): number[] {
    return [...this.#trusted];
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
