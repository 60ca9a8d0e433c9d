/** Schemas of bilateral trust: handshake requests, approvals, rejections, the trust list, and the node channel. */
import { z } from "zod";
import { NodeId, Timestamp } from "./api.ts";
import { RevocationId } from "./revocations-api.ts";

export const MAX_JUSTIFICATION = 1024;

export const HandshakeRequest = z
  .strictObject({
    target: z.string().max(80).meta({ description: "Node ID, Pilot address or hostname", example: "agent-b" }),
    justification: z.string().trim().min(1, "a justification is required").max(MAX_JUSTIFICATION),
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
  })
  .meta({ id: "HandshakeReply" });
export type HandshakeReply = z.infer<typeof HandshakeReply>;

export const PendingHandshake = z
  .object({ node_id: NodeId, justification: z.string(), received_at: Timestamp, expires_at: Timestamp })
  .meta({ id: "PendingHandshake" });
export type PendingHandshake = z.infer<typeof PendingHandshake>;

export const PendingList = z.object({ pending: z.array(PendingHandshake) }).meta({ id: "PendingList" });

export const RejectRequest = z
  .strictObject({ reason: z.string().max(MAX_JUSTIFICATION).default("") })
  .meta({ id: "RejectRequest" });

export const HandshakeDecision = z
  .object({ status: z.enum(["approved", "rejected"]), node_id: NodeId })
  .meta({ id: "HandshakeDecision" });

export const TrustedPeer = z
  .object({
    node_id: NodeId,
    mutual: z.boolean().meta({ description: "Both sides asked (crossing requests)" }),
    network: z.number().int().meta({ description: "The network whose membership approved it, or 0" }),
    approved_at: Timestamp,
  })
  .meta({ id: "TrustedPeer" });
export type TrustedPeer = z.infer<typeof TrustedPeer>;

export const TrustList = z.object({ trusted: z.array(TrustedPeer) }).meta({ id: "TrustList" });

export const Revoked = z
  .object({ node_id: NodeId, revocation_id: RevocationId.meta({ description: "Both daemons confirm their cut-off under this ID: GET /v1/revocations/{id}" }) })
  .meta({ id: "Revoked" });
export type Revoked = z.infer<typeof Revoked>;
