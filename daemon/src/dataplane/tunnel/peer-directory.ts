/**
 * What the tunnel layer knows of its peers from the registry: their identity keys and where to
 * reach them. The registry is the authority on who may be reached (docs/security.md), so a peer's
 * view is looked up again for every exchange the peer starts; only the lookups strangers can prompt
 * are bounded, so forged exchanges cannot make the daemon hammer the registry.
 */
import type { ResolvedNode } from "@pilot/protocol";
import { candidateList, type Endpoint } from "../../net/candidates.ts";

export type { Endpoint } from "../../net/candidates.ts";

/** A peer as the registry describes it: its identity key and where to reach it. */
export interface PeerInfo {
  nodeId: number;
  publicKey: Buffer;
  /** Its candidates: the public mapping and its own addresses, each once. */
  endpoints: Endpoint[];
}

/**
 * The tunnel layer's view of a node the registry resolved: its key and its candidates, as a node
 * whose public mapping is `ours` may use them (null: unknown, all of them).
 */
export function peerInfo(node: ResolvedNode, ours: string | null = null): PeerInfo {
  return { nodeId: node.node_id, publicKey: Buffer.from(node.public_key, "base64"), endpoints: candidateList(node.endpoint, node.lan_addrs, ours) };
}

/** How a lookup came about: our own contact, an exchange signed by the key we know, or anything else from outside. */
type Why = "own" | "verified" | "prompted";

/** An identity key looked up this recently checks a peer's answer to our exchange without asking again. */
const KEY_CACHE_MS = 60_000;
/** A resolution handed over by `learn` serves the first contact that follows within this long. */
const HANDOVER_MS = 5_000;
/** A lookup that found nothing is not repeated for this long: forged hellos cannot make us hammer the registry. */
const NEGATIVE_CACHE_MS = 10_000;
const MAX_LOOKUPS_IN_FLIGHT = 16;
/**
 * Lookups prompted from outside, per second (with a burst of twice that): a public node accepts
 * exchanges from anyone, so forged ones with random sender IDs would otherwise make it ask the
 * registry as fast as they arrive.
 */
const PROMPTED_LOOKUPS_PER_SECOND = 20;
/** Peers remembered as not found, at most: forged sender IDs cannot grow the daemon's memory. */
const MAX_NOT_FOUND = 4096;

export class PeerDirectory {
  readonly #lookup: (peer: number) => Promise<PeerInfo | null>;
  /** A lookup that also asks the registry to have the peer probe back (hole punching). */
  readonly #requestPath: (peer: number) => Promise<PeerInfo | null>;
  /** A monotonic clock: a wall clock stepped back would stretch the caches and empty the budget for as long. */
  readonly #now: () => number;
  /** The latest view of each peer, when it was taken, and whether it was handed over and not yet used. */
  readonly #views = new Map<number, { info: PeerInfo; at: number; handedOver: boolean }>();
  /** Lookups under way, shared by everyone waiting for the same peer. */
  readonly #lookups = new Map<number, Promise<PeerInfo | null>>();
  /** Until when each peer not found stays not found. */
  readonly #notFound = new Map<number, number>();
  /** Lookups prompted from outside that may start now: refilled at PROMPTED_LOOKUPS_PER_SECOND. */
  readonly #budget: { tokens: number; at: number };

  constructor(lookups: { lookup: (peer: number) => Promise<PeerInfo | null>; requestPath: (peer: number) => Promise<PeerInfo | null> }, now: () => number = () => performance.now()) {
    this.#lookup = lookups.lookup;
    this.#requestPath = lookups.requestPath;
    this.#now = now;
    this.#budget = { tokens: 2 * PROMPTED_LOOKUPS_PER_SECOND, at: now() };
  }

  /**
   * The registry's view of a peer this node contacts, asked for with a path request so that the
   * peer probes back; with a resolution handed over moments ago (used once), the request still goes
   * out but is not waited for.
   */
  contact(peer: number): Promise<PeerInfo | null> {
    const view = this.#views.get(peer);
    if (view?.handedOver) {
      view.handedOver = false;
      if (this.#now() - view.at < HANDOVER_MS) {
        void this.#requestPath(peer).catch(() => null);
        return Promise.resolve(view.info);
      }
    }
    return this.#resolve(peer, "own");
  }

  /**
   * The registry's view of a peer that starts an exchange, looked up afresh every time: the
   * registry shows a private peer only to a node that may still reach it, so a grant whose end this
   * node missed is not honoured again. An exchange signed by the key already known costs no lookup
   * budget; only strangers and forgers spend it, so they cannot starve known peers.
   */
  initiator(peer: number, signedBy: (key: Buffer) => boolean): Promise<PeerInfo | null> {
    const known = this.#views.get(peer)?.info.publicKey;
    return this.#resolve(peer, known && signedBy(known) ? "verified" : "prompted");
  }

  /** The peer's key as looked up or vouched for within the last minute, without asking. */
  cachedKey(peer: number): Buffer | null {
    const view = this.#views.get(peer);
    return view && this.#now() - view.at < KEY_CACHE_MS ? view.info.publicKey : null;
  }

  /** The key to check a peer's answer to our exchange with: the one looked up for it, or a budgeted lookup. */
  async responderKey(peer: number): Promise<Buffer | null> {
    const view = this.#views.get(peer);
    if (view && this.#now() - view.at < KEY_CACHE_MS) return view.info.publicKey;
    return (await this.#resolve(peer, "prompted"))?.publicKey ?? null;
  }

  /** Takes a resolution just made elsewhere (a name resolved for a command), so first contact need not ask again. */
  learn(info: PeerInfo): void {
    this.#record(info.nodeId, info, true);
  }

  /**
   * The peer was just granted access (a membership or trust): a lookup that found nothing before
   * may find it now, so its key exchanges are answered at once rather than after the negative cache.
   */
  granted(peer: number): void {
    this.#notFound.delete(peer);
  }

  /** Forgets views older than a minute of peers `keep` does not name: strangers' lookups cannot grow it without bound. */
  sweep(keep: (peer: number) => boolean): void {
    const now = this.#now();
    for (const [peer, view] of this.#views) if (now - view.at >= KEY_CACHE_MS && !keep(peer)) this.#views.delete(peer);
  }

  /**
   * Forgets what is known of the peer, including a lookup still under way: its answer may predate
   * whatever made us forget (a cut-off), so the next contact asks again and the old answer is not kept.
   */
  forget(peer: number): void {
    this.#views.delete(peer);
    this.#lookups.delete(peer);
  }

  /** The peer moved to the identity key `key`: a view that holds another is stale. */
  rekeyed(peer: number, key: Buffer): void {
    if (this.#views.get(peer)?.info.publicKey.equals(key) === false) this.#views.delete(peer);
  }

  /**
   * One lookup at a time per peer. Prompted ones are also capped in number, budgeted, and skip peers
   * recently not found; our own, and those for exchanges signed by a known key, always look.
   */
  #resolve(peer: number, why: Why): Promise<PeerInfo | null> {
    const running = this.#lookups.get(peer);
    if (running) return running;
    if (why === "prompted" && ((this.#notFound.get(peer) ?? 0) > this.#now() || this.#lookups.size >= MAX_LOOKUPS_IN_FLIGHT || !this.#spend())) {
      return Promise.resolve(null);
    }
    const lookup: Promise<PeerInfo | null> = (why === "own" ? this.#requestPath(peer) : this.#lookup(peer))
      .catch(() => null)
      .then((info) => {
        // A lookup forgotten while under way answers only those who asked it.
        if (this.#lookups.get(peer) !== lookup) return info;
        this.#lookups.delete(peer);
        this.#record(peer, info, false);
        return info;
      });
    this.#lookups.set(peer, lookup);
    return lookup;
  }

  #record(peer: number, info: PeerInfo | null, handedOver: boolean): void {
    this.#notFound.delete(peer);
    if (info) {
      this.#views.set(peer, { info, at: this.#now(), handedOver });
      return;
    }
    this.#notFound.set(peer, this.#now() + NEGATIVE_CACHE_MS);
    // The oldest entry goes first (a Map keeps insertion order).
    if (this.#notFound.size > MAX_NOT_FOUND) this.#notFound.delete(this.#notFound.keys().next().value!);
  }

  /** Takes one prompted lookup from the budget, if there is one. */
  #spend(): boolean {
    const now = this.#now();
    const budget = this.#budget;
    budget.tokens = Math.min(2 * PROMPTED_LOOKUPS_PER_SECOND, budget.tokens + ((now - budget.at) / 1000) * PROMPTED_LOOKUPS_PER_SECOND);
    budget.at = now;
    if (budget.tokens < 1) return false;
    budget.tokens--;
    return true;
  }
}
