/**
 * A node's presence, kept in its Durable Object (durable-objects/node-hub.ts) instead of D1, so a
 * million agents heartbeating touch a million small objects, not one database. It is kept per token
 * epoch, so a heartbeat that was in flight when the node deregistered cannot show the re-registered
 * node online.
 */
const PRESENCE = "presence";

interface Presence {
  lastSeen: number;
  epoch: number;
}

/** Records that the node, at this token epoch, reported in now; a heartbeat from an older epoch changes nothing. */
export function recordHeartbeat(kv: SyncKvStorage, epoch: number): void {
  const stored = kv.get<Presence>(PRESENCE);
  if (stored && stored.epoch > epoch) return;
  kv.put(PRESENCE, { lastSeen: Date.now(), epoch } satisfies Presence);
}

/**
 * When the node at this epoch was last seen (Unix ms): now if its channel is open (deregistration
 * closes every channel, so an open one is the current node's), else its last heartbeat.
 */
export function lastSeen(kv: SyncKvStorage, epoch: number, channelOpen: boolean): number | null {
  if (channelOpen) return Date.now();
  const stored = kv.get<Presence>(PRESENCE);
  return stored?.epoch === epoch ? stored.lastSeen : null;
}

export function forgetPresence(kv: SyncKvStorage): void {
  kv.delete(PRESENCE);
}
