/**
 * The networks this node belongs to, kept equal to the registry's list while the daemon runs.
 *
 * The registry's list (`GET /v1/nodes/self/networks`) is the state; everything else is a reason to
 * read it again: start-up, the node channel's resync after a reconnect, each membership event on
 * that channel (an owner's add, a join, an accepted invitation, a removal, a deleted network), this
 * node's own join, accept and leave, and a network channel that ended. Reads run one at a time,
 * and a read asked for while one is running runs after it, so the last read to finish always began
 * after the last change was made: a late or replayed event cannot undo a newer change. A read that
 * fails is tried again with backoff until one succeeds, so a registry hiccup delays a change but
 * never loses it.
 *
 * Each listed network gets a push channel; its members are granted access only once that channel
 * is in sync (see access.ts), and lose it the moment the channel drops or the network is gone.
 */
import type { ChannelEnd, LiveChannel } from "../live-channel.ts";
import { MEMBERSHIP_EVENTS, type Member, type Membership, type NodeEvent, type PendingCut, type PolicyState, type PushEvent } from "@pilot/protocol";
import type { RegistryClient } from "../registry-client.ts";
import type { AccessList } from "./access.ts";
import type { Receipts } from "./receipts.ts";

/** Why a network's peers were cut off, by how its channel ended, in the log's words. */
const ENDED: Record<ChannelEnd, (networkId: number) => string> = {
  removed: (id) => `this node was removed from network ${id}`,
  deleted: (id) => `network ${id} was deleted`,
  deregistered: () => "this node was deregistered",
  replaced: (id) => `another daemon with this node's identity took over its channel to network ${id}`,
  closed: (id) => `this node is no longer in network ${id}`,
};

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** What the memberships need from the daemon that holds them. */
export interface MembershipHost {
  readonly registry: Pick<RegistryClient, "networks" | "allMembers" | "channel">;
  readonly access: AccessList;
  /** Confirms cut-offs to the registry (receipts.ts). */
  readonly receipts: Pick<Receipts, "confirm" | "confirmLater">;
  nodeId(): number;
  /** Ends a peer's tunnels and connections: it may no longer reach this node. */
  cutOff(peer: number, why: string): void;
  /** A network's port policy changed: resets the connections it no longer allows. */
  policyChanged(networkId: number): void;
  /** Forgets the trust this node had with a peer (it is gone from the registry). */
  untrust(peer: number): void;
  /** Forgets the trust a network vouched for, with one peer or (no peer: this node left it) with all. */
  endVouched(networkId: number, peer?: number): void;
  /** Resets the peer's connections to ports nothing allows it any more (it is still related otherwise). */
  rejudge(peer: number, why: string): void;
  /** Tells local subscribers (the SDK, pilotctl) of an event. */
  emit(event: object): void;
  log(line: string): void;
}

/** The node channel's events about networks and invitations. */
export type MembershipEvent = Extract<NodeEvent, { type: (typeof MEMBERSHIP_EVENTS)[number] }>;

export const isMembershipEvent = (e: NodeEvent): e is MembershipEvent => (MEMBERSHIP_EVENTS as readonly string[]).includes(e.type);

export class Memberships {
  readonly #host: MembershipHost;
  readonly #channels = new Map<number, LiveChannel<PushEvent>>();
  /** Members of each network whose channel dropped, held (not cut off) until its resync. */
  readonly #suspended = new Map<number, number[]>();
  /** The policy revision of each network whose forbidden connections were last reset. */
  readonly #enforced = new Map<number, number>();
  /** The policy each network's channel greeted this connection with, for its resync. */
  readonly #greetings = new Map<number, PolicyState>();
  /** The read waiting for its turn, which any further request joins. */
  #waiting: Promise<void> | undefined;
  #last: Promise<void> = Promise.resolve();
  #closed = false;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;

  constructor(host: MembershipHost) {
    this.#host = host;
  }

  /**
   * Reads the registry's list and opens or closes channels to match it. Never rejects: a read that
   * fails is logged and tried again later on its own.
   */
  sync(): Promise<void> {
    if (this.#waiting) return this.#waiting;
    const run = this.#last.then(async () => {
      this.#waiting = undefined;
      try {
        this.#apply(await this.#host.registry.networks());
        this.#failures = 0;
      } catch (e) {
        this.#host.log(`could not read this node's networks (trying again): ${String(e)}`);
        this.#retryLater();
      }
    });
    this.#waiting = run;
    this.#last = run;
    return run;
  }

  /** Acts on a membership event from the node channel: announce it, then re-read the list. */
  async onEvent(e: MembershipEvent): Promise<void> {
    this.#host.emit({ ...e, seq: undefined });
    if (e.type === "invitation_received") {
      this.#host.log(`invited to network ${e.network_id} (${e.name}) until ${e.expires_at}; accept with: pilotctl accept-invitation ${e.network_id}`);
    } else if (e.type === "invitation_ended") {
      this.#host.log(`the invitation to network ${e.network_id} ended: ${e.reason}`);
    } else if (e.type === "join_token_rotated") {
      this.#host.log(`network ${e.network_id}'s join token was rotated; members stay members`);
    } else {
      this.#host.log(e.type === "network_added" ? `now a member of network ${e.network_id} (${e.name}): ${e.how}` : `no longer in network ${e.network_id}: ${e.reason}`);
      // A failed read is retried on its own: the event is handled, and acknowledged, either way.
      await this.sync();
    }
  }

  /** The networks with a channel, and whether each one's members are in force (its channel in sync). */
  /** Checks every network channel now (the node moved): a broken one is remade at once. */
  checkAlive(): void {
    for (const channel of this.#channels.values()) channel.checkAlive();
  }

  list(): { network_id: number; synced: boolean }[] {
    const synced = new Set(this.#host.access.syncedNetworks());
    return [...this.#channels.keys()].map((id) => ({ network_id: id, synced: synced.has(id) }));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    for (const ch of this.#channels.values()) ch.close();
  }

  #retryLater(): void {
    if (this.#closed || this.#retry) return;
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#failures++);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.sync();
    }, delay);
    this.#retry.unref?.();
  }

  #apply(networks: Membership[]): void {
    if (this.#closed) return;
    const listed = new Set(networks.map((n) => n.network_id));
    for (const [id, channel] of this.#channels) if (!listed.has(id)) channel.close();
    for (const id of listed) if (!this.#channels.has(id)) this.#open(id);
  }

  #open(networkId: number): void {
    const host = this.#host;
    // Handlers of a channel that was replaced or closed must not touch the network's access.
    const current = () => this.#channels.get(networkId) === channel;
    // Bumped when the channel drops: a member list read across a drop is stale and not applied.
    let connection = 0;
    const channel: LiveChannel<PushEvent> = host.registry.channel(networkId, {
      onResync: async () => {
        const mine = connection;
        const members = await host.registry.allMembers(networkId);
        if (mine !== connection || !current()) return;
        // The hello that started this resync carried the policy: a network is never in sync without it.
        if (!this.#greetings.has(networkId)) throw new Error(`network ${networkId}'s channel greeted without a policy`);
        // Peers suspended while the channel was down count as before: those gone now are cut off,
        // while the network still grants nothing.
        const before = [...host.access.forgetNetwork(networkId), ...(this.#suspended.get(networkId) ?? [])];
        this.#suspended.delete(networkId);
        const listed = new Set(members.map((m) => m.node_id));
        this.#cutOffUnallowed(
          before.filter((peer) => !listed.has(peer)),
          `no longer in network ${networkId}`,
        );
        // Removals missed while away are confirmed before the network grants anything again; if
        // the registry cannot take them, the resync fails and the channel reconnects.
        await host.receipts.confirm();
        if (mine !== connection || !current()) return;
        // Read after the wait: a policy_updated heard meanwhile replaced the greeting's policy.
        const greeting = this.#greetings.get(networkId);
        if (!greeting) throw new Error(`network ${networkId}'s channel greeted without a policy`);
        host.access.syncNetwork(networkId, [...listed].filter((id) => id !== host.nodeId()), withTagsOf(greeting, members));
        // The policy may have changed while the channel was down: connections it forbids now end.
        this.#enforce(networkId);
        host.emit({ type: "network_synced", network_id: networkId, members: members.length });
      },
      onEvent: (e) => {
        if (current()) this.#onPush(networkId, e);
      },
      onDisconnect: () => {
        connection++;
        if (!current()) return;
        this.#greetings.delete(networkId);
        this.#suspend(networkId);
      },
      onEnd: (why) => {
        connection++;
        if (!current()) return;
        this.#channels.delete(networkId);
        this.#greetings.delete(networkId);
        this.#enforced.delete(networkId);
        // Stopping the daemon closes every channel: nothing to cut off or log then.
        if (this.#closed) return;
        this.#forget(networkId, ENDED[why](networkId));
        host.receipts.confirmLater();
        if (why === "replaced") {
          // Reconnecting would take the channel back from the other daemon, and it from us, forever.
          host.log(`${ENDED[why](networkId)}; is the same Pilot home running twice? Stop one of them, then restart this one.`);
          return;
        }
        // Removed or deleted: the list may already hold a newer membership (a quick re-add).
        if (why !== "closed") void this.sync();
      },
    });
    this.#channels.set(networkId, channel);
  }

  #onPush(networkId: number, e: PushEvent): void {
    const host = this.#host;
    if (e.type === "hello") return void this.#greetings.set(networkId, e.policy);
    host.emit(e);
    if (e.type === "member_added" && e.member.node_id !== host.nodeId()) host.access.addMember(networkId, e.member.node_id, e.member.effective_tags);
    if (e.type === "policy_updated") {
      const policy = { revision: e.revision, self_tagging: e.self_tagging, rules: e.rules, tags: e.tags };
      // Trust opens every port: trust this network approved on its own ends once it has rules, as the registry ends it.
      if (e.rules.length > 0) host.endVouched(networkId);
      // A resync still waiting to grant the network takes this policy, not the older one its hello carried.
      if (this.#greetings.has(networkId)) this.#greetings.set(networkId, policy);
      host.access.setPolicy(networkId, policy);
      this.#enforce(networkId);
    }
    if (e.type === "member_removed" && e.node_id !== host.nodeId()) {
      // A node that deregistered lost all its trust too, whether or not that news has come yet.
      if (e.reason === "deregistered") host.untrust(e.node_id);
      host.endVouched(networkId, e.node_id);
      host.access.removeMember(networkId, e.node_id);
      this.#cutOffUnallowed(
        [e.node_id],
        e.reason === "deregistered"
          ? `node ${e.node_id} deregistered`
          : e.reason === "suspended"
            ? `node ${e.node_id} was suspended by the registry's operator`
            : `removed from network ${networkId}`,
      );
      host.receipts.confirmLater();
    }
  }

  /**
   * Whether this node has done its part of a revocation in a network: the network no longer
   * vouches here for the peer (its tunnels and connections were cut then, unless something else
   * still allows it), or, for this node's own removal (peer 0), for anyone. A network whose channel
   * dropped holds its members until its resync decides, so nothing of it is done meanwhile.
   */
  cutDone(cut: PendingCut & { network_id: number }): boolean {
    if (cut.peer === 0) return !this.#channels.has(cut.network_id);
    return !this.#suspended.has(cut.network_id) && !this.#host.access.networksOf(cut.peer).includes(cut.network_id);
  }

  /**
   * Whether this node enforces a network's policy revision, as a policy change's revocation asks:
   * it holds that revision or a newer one, in sync, and has reset what it forbids since. A node
   * with no channel to the network (it left, or was removed) takes nothing from it, so has nothing
   * to enforce; one whose channel dropped holds no policy until its resync, so has not done it yet.
   */
  policyDone(networkId: number, revision: number): boolean {
    if (!this.#channels.has(networkId)) return true;
    const held = this.#host.access.policyRevision(networkId);
    return held !== undefined && held >= revision && (this.#enforced.get(networkId) ?? -1) >= revision;
  }

  /** Resets what the network's policy, as held now, forbids; then confirms the policy changes this enforces. */
  #enforce(networkId: number): void {
    this.#host.policyChanged(networkId);
    const revision = this.#host.access.policyRevision(networkId);
    // A network not in sync holds no policy: nothing was enforced for it.
    if (revision === undefined) return;
    this.#enforced.set(networkId, revision);
    this.#host.receipts.confirmLater();
  }

  /** Stops honouring a network's membership, and cuts off peers it alone vouched for. */
  #forget(networkId: number, why: string): void {
    // Peers held while the channel was down are let go with the rest.
    const held = this.#suspended.get(networkId) ?? [];
    this.#suspended.delete(networkId);
    this.#host.endVouched(networkId);
    this.#cutOffUnallowed([...this.#host.access.forgetNetwork(networkId), ...held], why);
  }

  /**
   * The channel dropped: the network grants nothing until it is resynchronised (fail closed: no
   * tunnel accepted, nothing delivered), but its members' live connections are held, not torn down.
   * A dropped channel is usually the path, not a revocation (a laptop that changed networks, a
   * router that renumbered): the resync cuts off whoever is no longer a member, and the rest carry
   * on where they stopped.
   */
  #suspend(networkId: number): void {
    const suspended = this.#suspended.get(networkId) ?? [];
    this.#suspended.set(networkId, [...suspended, ...this.#host.access.forgetNetwork(networkId)]);
    this.#host.log(`network ${networkId}'s channel lost; refusing its members until resynchronised`);
  }

  /** Access to these peers narrowed: each is cut off, or, if something still relates it, keeps only what is still allowed. */
  #cutOffUnallowed(peers: number[], why: string): void {
    for (const peer of peers) {
      if (this.#host.access.allows(peer)) this.#host.rejudge(peer, why);
      else this.#host.cutOff(peer, why);
    }
  }
}

/** The greeting's policy, with each member's tags as the member list (read after it) has them. */
function withTagsOf(policy: PolicyState, members: readonly Member[]): PolicyState {
  return { ...policy, tags: { ...policy.tags, ...Object.fromEntries(members.map((m) => [String(m.node_id), m.effective_tags])) } };
}
