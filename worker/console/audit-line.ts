/**
 * How the console words audit entries, the same on the server's first render and in the script's
 * live updates (worker/console/client/live-audit.ts). Pure: no DOM, no zod.
 */
import type { AccountAuditEntry, AuditEntry } from "@pilot/protocol";

/** "2026-12-01 06:12:05 UTC": a trail's order is read to the second. */
export const auditTime = (iso: string) => `${iso.replace("T", " ").slice(0, 19)} UTC`;

const what = (action: string) => action.replaceAll("_", " ");

/** A network trail's row: when, who, what, to whom. */
export const auditCells = (e: AuditEntry): [string, string, string, string] => [
  auditTime(e.at),
  e.actor.type === "account" ? "you" : `node ${e.actor.id}`,
  what(e.action),
  e.target_node_id !== null ? `node ${e.target_node_id}` : (e.target_name ?? "—"),
];

const WHO: Record<AccountAuditEntry["actor"]["type"], string> = { account: "you", operator: "the operator", anonymous: "someone" };

/** An account trail's row: when, who, what, about what, from where. */
export function accountAuditCells(e: AccountAuditEntry): [string, string, string, string, string] {
  const about =
    e.network_id !== null
      ? `network ${e.network_id}${e.target_name === null ? "" : ` (${e.target_name})`}`
      : e.target_id !== null
        ? `#${e.target_id} ${e.target_name ?? ""}`.trim()
        : (e.target_name ?? "—");
  return [auditTime(e.at), WHO[e.actor.type], what(e.action), about, e.ip ?? "—"];
}
