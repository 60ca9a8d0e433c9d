/**
 * One Durable Object per node: the registry's live side of that node. It holds the node's
 * presence (when it last reported in), so heartbeats are absorbed by millions of small objects
 * instead of writing to D1. Later issues give it the node's inbox and push channel.
 */
import { DurableObject } from "cloudflare:workers";

const LAST_SEEN = "last_seen";

export class NodeHub extends DurableObject<Env> {
  /** Records that the node reported in now; returns the time recorded (Unix ms). */
  async heartbeat(): Promise<number> {
    const now = Date.now();
    this.ctx.storage.kv.put(LAST_SEEN, now);
    return now;
  }

  /** When the node last reported in (Unix ms), or null if it never did since registering. */
  async lastSeen(): Promise<number | null> {
    return this.ctx.storage.kv.get<number>(LAST_SEEN) ?? null;
  }

  /** Forgets the node's presence, when it deregisters. */
  async clear(): Promise<void> {
    this.ctx.storage.kv.delete(LAST_SEEN);
  }
}

export const nodeHub = (env: Env, nodeId: number) => env.NODE_HUB.getByName(String(nodeId));
