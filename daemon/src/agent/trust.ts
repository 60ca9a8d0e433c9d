/**
 * Bilateral trust as this node keeps it. The registry is the authority; trust.json is its local
 * copy, which stands at start-up until the registry is heard from; the access list is what
 * enforcement reads. Handshakes this node sends and decides, and the trust events its node channel
 * carries, are recorded here, and a peer whose trust ends is cut off at once.
 *
 * Trust may have an end (time-boxed trust). It is kept from the end itself, not from a message: the
 * access list refuses the peer from that instant, and an alarm at the earliest end removes the
 * peer from trust.json and cuts it off, as an untrust does, whether or not the registry answers.
 * A daemon that was stopped through an end drops the ended entries when it starts.
 */
import type { HandshakeReply, NodeEvent, Revoked } from "@pilot/protocol";
import type { RegistryClient } from "../registry-client.ts";
import { TrustStore, type PendingRecord, type TrustedRecord, type TrustFile } from "../store/trust-file.ts";
import type { AccessList } from "./access.ts";
import { systemClock, type Clock } from "./clock.ts";
import type { MembershipEvent } from "./memberships.ts";
import type { Receipts } from "./receipts.ts";

/** The node channel's events about trust (the others are about memberships). */
export type TrustEvent = Exclude<NodeEvent, MembershipEvent | { type: "hello" | "path_wanted" }>;

/** What trust needs from the daemon that holds it. */
export interface TrustHost {
  readonly registry: Pick<RegistryClient, "handshake" | "approveHandshake" | "rejectHandshake" | "untrust" | "trusted" | "pendingHandshakes">;
  readonly access: AccessList;
  /** Ends a peer's tunnels and connections: it may no longer reach this node. */
  cutOff(peer: number, why: string): void;
  /** Resets the peer's connections to ports nothing allows it any more (it is still related otherwise). */
  rejudge(peer: number, why: string): void;
  /** Confirms cut-offs to the registry (receipts.ts). */
  readonly receipts: Pick<Receipts, "confirmLater">;
  /** The clock trust ends by (the system's unless a test gives its own). */
  readonly clock?: Clock;
}

/** When a trusted record's trust ends, in ms since the epoch, or null for trust without end. */
const endOf = (t: Pick<TrustedRecord, "expires_at">): number | null => (t.expires_at === null ? null : Date.parse(t.expires_at));

export class Trust {
  readonly #host: TrustHost;
  readonly #store: TrustStore;
  readonly #clock: Clock;
  /** Bumped by every trust event, so a registry read that straddles one is not applied over it. */
  #version = 0;
  /** Cancels the alarm at the earliest end of trust, if one is set. */
  #cancelAlarm = () => {};

  constructor(path: string, host: TrustHost) {
    this.#host = host;
    this.#clock = host.clock ?? systemClock;
    this.#store = new TrustStore(path);
    // Trust that ended while the daemon was stopped is gone before anything can use it.
    const now = this.#clock.now();
    if (this.#store.state.trusted.some((t) => !this.#live(t, now))) {
      this.#store.update((s) => {
        s.trusted = s.trusted.filter((t) => this.#live(t, now));
      });
    }
    // Until the registry is heard from, the trust it confirmed last time stands.
    host.access.setTrusted(this.#store.state.trusted.map((t) => [t.node_id, endOf(t)] as const));
    this.#setAlarm();
  }

  /** What this node knows of trust as last heard from the registry: trusted peers, requests received and sent. */
  get records(): Readonly<TrustFile> {
    return this.#store.state;
  }

  /** Stops the alarm (the daemon is stopping). */
  close(): void {
    this.#cancelAlarm();
  }

  /**
   * Asks a node for trust, and records the request; an answer already given is applied now.
   * `ttlSeconds`: how long the trust should last once approved (undefined: without end).
   */
  async request(target: string, justification: string, ttlSeconds?: number): Promise<HandshakeReply> {
    const reply = await this.#host.registry.handshake(target, justification, ttlSeconds);
    this.#store.update((s) => {
      s.outgoing = s.outgoing.filter((o) => o.target !== target);
      s.outgoing.push({ target, node_id: reply.node_id ?? null, justification, sent_at: new Date().toISOString(), status: reply.status });
    });
    if (reply.status !== "sent") await this.sync();
    return reply;
  }

  /** Requests waiting for this node's decision: the registry's list, or the last one known if it does not answer. */
  async pending(): Promise<PendingRecord[]> {
    await this.sync().catch(() => undefined);
    return this.#store.state.pending;
  }

  /** Trusted peers: the registry's list, or the last one known if it does not answer. */
  async trusted(): Promise<TrustedRecord[]> {
    await this.sync().catch(() => undefined);
    return this.#store.state.trusted;
  }

  /** Approves a request, for at most `ttlSeconds` if given; returns when the trust ends (null: never). */
  async approve(peer: number, ttlSeconds?: number): Promise<string | null> {
    const expiresAt = await this.#host.registry.approveHandshake(peer, ttlSeconds);
    await this.sync();
    return expiresAt;
  }

  async reject(peer: number, reason: string): Promise<void> {
    await this.#host.registry.rejectHandshake(peer, reason);
    await this.sync();
  }

  /** Revokes trust in a peer; it is cut off before this returns, and both daemons confirm it under the revocation's ID. */
  async untrust(peer: number): Promise<Revoked> {
    const revoked = await this.#host.registry.untrust(peer);
    await this.sync();
    return revoked;
  }

  /**
   * Re-reads trust and pending requests from the registry into trust.json. A read during which a
   * trust event arrived is read again, so it can never undo that event.
   */
  async sync(): Promise<void> {
    let trusted, pending;
    for (let attempt = 0; ; attempt++) {
      const version = this.#version;
      [trusted, pending] = await Promise.all([this.#host.registry.trusted(), this.#host.registry.pendingHandshakes()]);
      if (version === this.#version) break;
      if (attempt === 2) return;
    }
    const { access } = this.#host;
    const before = new Set(access.trusted());
    access.setTrusted(trusted.map((t) => [t.node_id, endOf(t)] as const));
    this.#store.update((s) => {
      s.trusted = trusted;
      s.pending = pending.map(({ node_id, justification, received_at, ttl_seconds }) => ({ node_id, justification, received_at, ttl_seconds }));
    });
    const ended = [...before].filter((peer) => !access.trusted().includes(peer));
    for (const peer of ended) this.#ended(peer, "trust revoked");
    if (ended.length > 0) this.#host.receipts.confirmLater();
    this.#setAlarm();
  }

  onEvent(e: TrustEvent): void {
    if (e.type === "handshake_request") {
      this.#store.update((s) => {
        s.pending = s.pending.filter((p) => p.node_id !== e.node_id);
        s.pending.push({ node_id: e.node_id, justification: e.justification, received_at: e.received_at, ttl_seconds: e.ttl_seconds ?? null });
      });
    } else if (e.type === "handshake_approved") {
      this.#version++;
      const expires_at = e.expires_at ?? null;
      this.#host.access.trust(e.node_id, endOf({ expires_at }));
      this.#store.update((s) => {
        s.trusted = s.trusted.filter((t) => t.node_id !== e.node_id);
        s.trusted.push({ node_id: e.node_id, mutual: e.mutual, network: e.network, approved_at: new Date(this.#clock.now()).toISOString(), expires_at });
        s.pending = s.pending.filter((p) => p.node_id !== e.node_id);
        for (const o of s.outgoing) if (o.target === e.target || o.node_id === e.node_id) o.status = "approved";
      });
      this.#setAlarm();
    } else if (e.type === "handshake_rejected") {
      this.#store.update((s) => {
        for (const o of s.outgoing) if (o.target === e.target) o.status = `rejected: ${e.reason}`;
      });
    } else if (e.type === "trust_revoked") {
      this.forget(e.node_id);
      this.#ended(e.node_id, e.reason === "expired" ? "trust expired" : e.reason === "suspended" ? `node ${e.node_id} was suspended by the registry's operator` : "trust revoked");
      this.#host.receipts.confirmLater();
    } else if (e.type === "trust_restored") {
      // The registry kept the pair through the suspension and lists it again: read it back.
      void this.sync().catch(() => undefined);
    }
  }

  /** The node deregistered, and the registry removed its trust and handshakes: so does this copy. */
  clear(): void {
    this.#version++;
    this.#host.access.setTrusted([]);
    this.#store.update((s) => {
      s.trusted = [];
      s.pending = [];
      s.outgoing = [];
    });
  }

  /** Drops the trust this node had with a peer, in memory and in trust.json. */
  forget(peer: number): void {
    // A registry read already under way may predate this: it must not bring the peer back.
    this.#version++;
    this.#host.access.untrust(peer);
    this.#store.update((s) => {
      s.trusted = s.trusted.filter((t) => t.node_id !== peer);
    });
  }

  /**
   * Drops the trust a network vouched for (a handshake it approved between its members): it ends
   * with the membership that earned it. The registry ends it too, but its news comes on the node
   * channel, later than the network's; until then the peer would still be let in on every port.
   */
  forgetVouchedBy(networkId: number, peer?: number): void {
    for (const t of this.#store.state.trusted) if (t.network === networkId && (peer === undefined || t.node_id === peer)) this.forget(t.node_id);
  }

  /** Trust in a peer ended: cut it off, or, if a network still relates it, reset what only trust allowed. */
  #ended(peer: number, why: string): void {
    if (this.#host.access.allows(peer)) this.#host.rejudge(peer, why);
    else this.#host.cutOff(peer, why);
  }

  #live(t: TrustedRecord, now: number): boolean {
    const end = endOf(t);
    return end === null || end > now;
  }

  /** Sets the alarm at the earliest end of trust still ahead, or at none. */
  #setAlarm(): void {
    this.#cancelAlarm();
    this.#cancelAlarm = () => {};
    const ends = this.#store.state.trusted.map(endOf).filter((end) => end !== null);
    if (ends.length > 0) this.#cancelAlarm = this.#clock.at(Math.min(...ends), () => this.#expire());
  }

  /** Trust that has reached its end goes as an untrust does: out of trust.json, and the peer cut off. */
  #expire(): void {
    const now = this.#clock.now();
    for (const t of this.#store.state.trusted.filter((t) => !this.#live(t, now))) {
      this.forget(t.node_id);
      this.#ended(t.node_id, "trust expired");
    }
    this.#setAlarm();
  }
}
