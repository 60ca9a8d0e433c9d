/** The registry's error codes: stable, machine-readable, shared by the Worker and its clients. */
import { z } from "zod";

export const ERROR_CODES = [
  "invalid_json",
  "invalid_request",
  "unsupported_media_type",
  "payload_too_large",
  "route_not_found",
  "not_found",
  "invalid_target",
  "invalid_public_key",
  "signature_invalid",
  "challenge_invalid",
  "challenge_expired",
  "node_not_registered",
  "token_missing",
  "token_invalid",
  "token_expired",
  "token_revoked",
  "hostname_taken",
  "hostname_reserved",
  "public_key_taken",
  "rate_limited",
  "address_space_exhausted",
  "server_misconfigured",
  "internal",
  // accounts
  "unauthenticated",
  "invalid_credentials",
  "email_taken",
  "csrf_failed",
  "enrollment_key_invalid",
  "account_suspended",
  "node_suspended",
  // the operator's admin API
  "account_not_found",
  "plan_not_found",
  "plan_in_use",
  "already_suspended",
  "not_suspended",
  // networks
  "network_not_found",
  "network_name_taken",
  "plan_limit",
  "join_denied",
  "network_invite_only",
  "not_member",
  "invitation_not_found",
  "join_link_not_found",
  "join_link_limit",
  "join_link_token_taken",
  "policy_too_large",
  // revocations
  "revocation_not_found",
  // trust
  "no_pending_request",
  "not_trusted",
  "ttl_too_short",
  // relays
  "turn_not_configured",
  "turn_unavailable",
] as const;

export const ErrorCode = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorBody = z
  .object({ error: z.object({ code: ErrorCode, message: z.string() }) })
  .meta({ id: "Error", description: "Every error: a stable machine-readable code and a message for people" });
export type ErrorBody = z.infer<typeof ErrorBody>;
