/**
 * How the network page words a revocation's receipts, the same on the server's first render and
 * in the script's live updates (worker/console/client/live-revocations.ts). Pure: no DOM, no zod.
 */
import type { RevocationSummary } from "@pilot/protocol";

const WHAT: Record<Exclude<RevocationSummary["kind"], "policy">, string> = {
  removed: "removed",
  left: "left",
  deregistered: "deregistered",
  untrust: "untrusted",
};

/**
 * "node 12 removed · 7 of 7 members confirmed cut-off · slowest 34 ms"; for a policy change, what
 * each member confirmed is holding it: "policy changed · 3 of 3 members confirmed · slowest 34 ms".
 */
export function revocationLine(r: RevocationSummary): string {
  const slowest = r.slowest_ms === null ? "" : ` · slowest ${r.slowest_ms} ms`;
  const counted = `${r.confirmed} of ${r.expected} members confirmed`;
  if (r.kind === "policy") return `${r.node_id === null ? "policy changed" : `node ${r.node_id}'s tags changed`} · ${counted}${slowest}`;
  return `node ${r.node_id} ${WHAT[r.kind]} · ${counted} cut-off${slowest}`;
}

/** "Not confirmed yet: node 15, node 18", or nothing once every daemon has confirmed. */
export function pendingLine(r: RevocationSummary): string {
  return r.pending.length === 0 ? "" : `Not confirmed yet: ${r.pending.map((id) => `node ${id}`).join(", ")}`;
}
