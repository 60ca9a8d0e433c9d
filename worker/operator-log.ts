/**
 * The trace every admin action leaves: one structured JSON line on the Worker's log (`wrangler
 * tail`), with the request's Cloudflare ray ID when there is one. It names what changed and never
 * carries a credential. This is the one call point for the operator's actions, so a durable audit
 * of them (an account-level audit table) is wired here.
 */
export interface OperatorAction {
  action: "account_plan_set" | "plan_put" | "plan_deleted" | "account_suspended" | "account_restored" | "node_suspended" | "node_restored";
  account_id?: number;
  node_id?: number;
  plan?: string;
  reason?: string | null;
}

export function recordOperatorAction(request: Request, action: OperatorAction): void {
  console.log(JSON.stringify({ event: "operator_action", at: new Date().toISOString(), request_id: request.headers.get("cf-ray"), ...action }));
}
