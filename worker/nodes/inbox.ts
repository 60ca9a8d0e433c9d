/**
 * A node's inbox, kept in its Durable Object's own SQLite (durable-objects/node-hub.ts): events for
 * the node, each with a sequence number, queued until the node acknowledges them, so an offline
 * node misses nothing.
 *
 * Events about one network's membership, its invitation or its token say only *that* something
 * changed (the node re-reads its networks): each replaces any earlier one of its kind for that
 * network still queued, so a flood of invitations and withdrawals cannot push trust events out.
 */
import { NodeAck, type NodeEvent } from "@pilot/protocol";

/** Oldest events are dropped past this many unacknowledged ones. */
export const INBOX_LIMIT = 1000;

/** An event as queued: everything but its sequence number, which the inbox assigns. */
export type InboxEvent = NodeEvent extends infer E ? (E extends { seq: number } ? Omit<E, "seq"> : never) : never;

/** The event types that replace one another, for the same network, while queued. */
const SUPERSEDING: readonly (readonly InboxEvent["type"][])[] = [
  ["network_added", "network_removed"],
  ["invitation_received", "invitation_ended"],
  ["join_token_rotated"],
];

const TRUNCATED = "truncated";
const CLEARED_AT = "cleared_at";

/** What the inbox needs from the node's object: its storage. */
export interface InboxHost {
  readonly sql: SqlStorage;
  readonly kv: SyncKvStorage;
}

export function openInbox(host: InboxHost): void {
  host.sql.exec("CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)");
}

/**
 * Queues an event and returns it as the node receives it (with its sequence number). An event made
 * (`madeAt`) before the node last deregistered is about that registration, and is dropped (no
 * message): a delivery still on its way then must not reach the node registered again with the same key.
 */
export function enqueue(host: InboxHost, event: InboxEvent, madeAt: number): string | undefined {
  if (madeAt < (host.kv.get<number>(CLEARED_AT) ?? 0)) return undefined;
  const kinds = SUPERSEDING.find((k) => k.includes(event.type));
  if (kinds && "network_id" in event) {
    host.sql.exec(
      `DELETE FROM inbox WHERE json_extract(event, '$.network_id') = ? AND json_extract(event, '$.type') IN (${kinds.map(() => "?").join(", ")})`,
      event.network_id,
      ...kinds,
    );
  }
  const seq = host.sql.exec<{ seq: number }>("INSERT INTO inbox (event) VALUES (?) RETURNING seq", JSON.stringify(event)).one().seq;
  // By rows kept, not by sequence numbers: coalesced events leave gaps that must not count.
  const trimmed = host.sql.exec("DELETE FROM inbox WHERE seq NOT IN (SELECT seq FROM inbox ORDER BY seq DESC LIMIT ?)", INBOX_LIMIT).rowsWritten;
  // The next hello says so: the node must re-read its pending requests and trust list.
  if (trimmed > 0) host.kv.put(TRUNCATED, true);
  return JSON.stringify({ ...event, seq });
}

/**
 * What a new channel starts with: whether events were dropped since the last one (said once), and
 * every event still queued, oldest first, as the node receives them.
 */
export function backlog(host: InboxHost): { truncated: boolean; messages: string[] } {
  const truncated = host.kv.get<boolean>(TRUNCATED) ?? false;
  host.kv.delete(TRUNCATED);
  const rows = host.sql.exec<{ seq: number; event: string }>("SELECT seq, event FROM inbox ORDER BY seq").toArray();
  return { truncated, messages: rows.map((row) => JSON.stringify({ ...JSON.parse(row.event), seq: row.seq })) };
}

/** Drops every event up to an acknowledged sequence number; anything else the node sends is ignored. */
export function acknowledge(host: InboxHost, message: string | ArrayBuffer): void {
  if (typeof message !== "string") return;
  let ack;
  try {
    ack = NodeAck.safeParse(JSON.parse(message));
  } catch {
    return;
  }
  if (ack.success) host.sql.exec("DELETE FROM inbox WHERE seq <= ?", ack.data.seq);
}

/** The node deregistered: its queued events go, and events made before now never arrive. */
export function clearInbox(host: InboxHost): void {
  host.kv.put(CLEARED_AT, Date.now());
  host.sql.exec("DELETE FROM inbox");
}
