/**
 * One Durable Object per node: the registry's live side of that node. It holds the node's
 * presence (when it last reported in), so heartbeats are absorbed by millions of small objects
 * instead of writing to D1. Later issues give it the node's inbox and push channel.
 *
 * Presence is kept per token epoch: a heartbeat that was in flight when the node deregistered
 * carries the old epoch and can neither overwrite nor masquerade as the re-registered node's.
 */
import { DurableObject } from "cloudflare:workers";

const PRESENCE = "presence";

interface Presence {
  lastSeen: number;
  epoch: number;
}

export class NodeHub extends DurableObject<Env> {
  /** Records that the node, at this token epoch, reported in now. */
  async heartbeat(epoch: number): Promise<void> {
    const stored = this.ctx.storage.kv.get<Presence>(PRESENCE);
    if (stored && stored.epoch > epoch) return;
    this.ctx.storage.kv.put(PRESENCE, { lastSeen: Date.now(), epoch } satisfies Presence);
  }

  /** When the node at this epoch last reported in (Unix ms), or null if it has not. */
  async lastSeen(epoch: number): Promise<number | null> {
    const stored = this.ctx.storage.kv.get<Presence>(PRESENCE);
    return stored?.epoch === epoch ? stored.lastSeen : null;
  }

  /** Forgets the node's presence, when it deregisters. */
  async clear(): Promise<void> {
    this.ctx.storage.kv.delete(PRESENCE);
  }
}

export const nodeHub = (env: Env, nodeId: number) => env.NODE_HUB.getByName(String(nodeId));
