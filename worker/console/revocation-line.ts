/**
 * How the network page words a revocation's receipts, the same on the server's first render and
 * in the script's live updates (worker/console/client/live-revocations.ts). Pure: no DOM, no zod.
 */
import type { RevocationSummary } from "@pilot/protocol";

const WHAT: Record<RevocationSummary["kind"], string> = {
  removed: "removed",
  left: "left",
  deregistered: "deregistered",
  untrust: "untrusted",
  policy: "cut off by a policy change",
};

/** "node 12 removed · 7 of 7 members confirmed cut-off · slowest 34 ms" */
export function revocationLine(r: RevocationSummary): string {
  const slowest = r.slowest_ms === null ? "" : ` · slowest ${r.slowest_ms} ms`;
  return `node ${r.node_id} ${WHAT[r.kind]} · ${r.confirmed} of ${r.expected} members confirmed cut-off${slowest}`;
}

/** "Not confirmed yet: node 15, node 18", or nothing once every daemon has confirmed. */
export function pendingLine(r: RevocationSummary): string {
  return r.pending.length === 0 ? "" : `Not confirmed yet: ${r.pending.map((id) => `node ${id}`).join(", ")}`;
}
