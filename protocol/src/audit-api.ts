/** Schemas of the audit trails an account reads: its own (sign-ins, credentials, networks made and deleted) and the live updates of a network's. */
import { z } from "zod";
import { Timestamp } from "./api.ts";
import { AuditEntry, NetworkId } from "./networks-api.ts";

/** Everything the account's own trail records; a network's changes are in that network's trail. */
export const ACCOUNT_AUDIT_ACTIONS = [
  "account_created",
  "signed_in",
  "sign_in_failed",
  "signed_out",
  "network_created",
  "network_deleted",
  "api_token_created",
  "api_token_revoked",
  "enrollment_key_created",
  "enrollment_key_revoked",
  "plan_changed",
  "account_suspended",
  "account_restored",
  "node_suspended",
  "node_restored",
] as const;
export type AccountAuditAction = (typeof ACCOUNT_AUDIT_ACTIONS)[number];

export const AccountAuditEntry = z
  .object({
    id: z.number().int(),
    actor: z.object({
      type: z
        .enum(["account", "operator", "anonymous"])
        .meta({ description: "anonymous: someone who did not prove to be the account, as in a failed sign-in; operator: the registry's operator" }),
    }),
    action: z.enum(ACCOUNT_AUDIT_ACTIONS),
    network_id: NetworkId.nullable().meta({ description: "For a network's creation and deletion; its trail stays readable at /v1/networks/{id}/audit" }),
    target_id: z.number().int().nullable().meta({ description: "The API token's or enrollment key's ID; the node's, for its suspension" }),
    target_name: z
      .string()
      .nullable()
      .meta({ description: "The network's or API token's name, the enrollment key's description, the new plan, the operator's reason for a suspension" }),
    ip: z.string().nullable().meta({ description: "For sign-ins, failed ones included, and sign-up: the address the request came from" }),
    at: Timestamp,
  })
  .meta({ id: "AccountAuditEntry" });
export type AccountAuditEntry = z.infer<typeof AccountAuditEntry>;

export const AccountAuditPage = z
  .object({ entries: z.array(AccountAuditEntry), next_cursor: z.string().nullable() })
  .meta({ id: "AccountAuditPage", description: "Newest first" });
export type AccountAuditPage = z.infer<typeof AccountAuditPage>;

/** What the owner's live view of a network hears after each change: the trail's newest entries, which the page merges by ID. */
export const AuditUpdate = z.object({ type: z.literal("audit"), network_id: NetworkId, entries: z.array(AuditEntry) });
export type AuditUpdate = z.infer<typeof AuditUpdate>;
