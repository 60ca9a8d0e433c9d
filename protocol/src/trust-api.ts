/** Schemas of bilateral trust: handshake requests, approvals, rejections, the trust list, and the node channel. */
import { z } from "zod";
import { PlainText } from "./accounts-api.ts";
import { NodeId, NodeRefText, Timestamp } from "./api.ts";
import { textOfLength } from "./schema-rules.ts";
import { RevocationId } from "./revocations-api.ts";

export const MAX_JUSTIFICATION = 1024;

/**
 * The longest trust a node may ask for or grant with an end: a year. Permanent trust is asked for
 * by leaving the TTL out. The shortest is the registry's setting (TRUST_TTL_MIN_SECONDS, a minute
 * unless its operator changed it), so it is checked there, not here.
 */
export const MAX_TRUST_TTL_SECONDS = 365 * 86_400;

export const TrustTtl = z
  .number()
  .int("must be a whole number of seconds")
  .min(1, "must be at least 1 second")
  .max(MAX_TRUST_TTL_SECONDS, `must be at most ${MAX_TRUST_TTL_SECONDS} seconds (365 days)`)
  .meta({
    description:
      "How long the trust lasts once approved, in seconds; leave it out for trust without end. The shorter of the requester's and the approver's wins. At least the registry's minimum (60 unless its operator changed it), at most 365 days.",
    example: 86_400,
  });

/** When trust ends by itself, or null for trust without end. */
const ExpiresAt = Timestamp.nullable().meta({ description: "When the trust ends by itself; null when it lasts until revoked" });

export const HandshakeRequest = z
  .strictObject({
    target: NodeRefText.meta({ example: "agent-b" }),
    justification: PlainText(MAX_JUSTIFICATION),
    ttl_seconds: TrustTtl.optional(),
  })
  .meta({ id: "HandshakeRequest" });
export type HandshakeRequest = z.infer<typeof HandshakeRequest>;

export const HandshakeReply = z
  .object({
    status: z.enum(["sent", "approved", "trusted"]).meta({
      description:
        "sent: delivered if such a node exists (the answer is the same if it does not); approved: trust was established now (mutual request or shared network); trusted: it already was",
    }),
    node_id: NodeId.optional().meta({
      description: "Present when the target was named by node ID or address, or once trust exists; never for a pending request named by hostname",
    }),
    mutual: z.boolean().optional(),
    network: z.number().int().optional().meta({ description: "The shared network that approved the request, when one did" }),
    expires_at: ExpiresAt.optional().meta({ description: "With approved and trusted: when the trust ends by itself, or null when it lasts until revoked" }),
  })
  .meta({ id: "HandshakeReply" });
export type HandshakeReply = z.infer<typeof HandshakeReply>;

export const PendingHandshake = z
  .object({
    node_id: NodeId,
    justification: z.string(),
    received_at: Timestamp,
    expires_at: Timestamp,
    ttl_seconds: TrustTtl.nullable().meta({ description: "How long the requester asks the trust to last; null: without end. The approval may shorten it" }),
  })
  .meta({ id: "PendingHandshake" });
export type PendingHandshake = z.infer<typeof PendingHandshake>;

export const PendingList = z.object({ pending: z.array(PendingHandshake) }).meta({ id: "PendingList" });

export const ApproveRequest = z
  .strictObject({ ttl_seconds: TrustTtl.optional() })
  .meta({ id: "ApproveRequest", description: "Optional: without a body (or without ttl_seconds) the trust lasts as long as the request asked for, or until revoked" });
export type ApproveRequest = z.infer<typeof ApproveRequest>;

export const RejectRequest = z
  .strictObject({ reason: textOfLength(0, MAX_JUSTIFICATION).default("") })
  .meta({ id: "RejectRequest" });

export const HandshakeDecision = z
  .object({
    status: z.enum(["approved", "rejected"]),
    node_id: NodeId,
    expires_at: ExpiresAt.optional().meta({ description: "With approved: when the trust ends by itself, or null when it lasts until revoked" }),
  })
  .meta({ id: "HandshakeDecision" });

export const TrustedPeer = z
  .object({
    node_id: NodeId,
    mutual: z.boolean().meta({ description: "Both sides asked (crossing requests)" }),
    network: z.number().int().meta({ description: "The network whose membership approved it, or 0" }),
    approved_at: Timestamp,
    expires_at: ExpiresAt,
  })
  .meta({ id: "TrustedPeer" });
export type TrustedPeer = z.infer<typeof TrustedPeer>;

export const TrustList = z.object({ trusted: z.array(TrustedPeer) }).meta({ id: "TrustList" });

export const Revoked = z
  .object({ node_id: NodeId, revocation_id: RevocationId.meta({ description: "Both daemons confirm their cut-off under this ID: GET /v1/revocations/{id}" }) })
  .meta({ id: "Revoked" });
export type Revoked = z.infer<typeof Revoked>;
