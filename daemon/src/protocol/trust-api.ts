/** Schemas of bilateral trust: handshake requests, approvals, rejections, the trust list, and the node channel. */
import { z } from "zod";
import { NodeId, Timestamp } from "./api.ts";

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

export const Revoked = z.object({ node_id: NodeId }).meta({ id: "Revoked" });

/**
 * What a node's own channel carries. Every event but hello has a sequence number; the node acks
 * with `{"type":"ack","seq":n}` and the registry then forgets everything up to n. Events not yet
 * acknowledged are sent again on the next connection, so nothing is lost while a node is offline.
 */
export const NodeEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    node_id: NodeId,
    truncated: z.boolean().meta({ description: "Events were dropped from a full inbox since the last connection" }),
  }),
  z.object({
    type: z.literal("handshake_request"),
    seq: z.number().int(),
    node_id: NodeId,
    justification: z.string(),
    received_at: Timestamp,
  }),
  z.object({
    type: z.literal("handshake_approved"),
    seq: z.number().int(),
    node_id: NodeId,
    target: z.string().meta({ description: "The name the request used, for the side that asked" }),
    mutual: z.boolean(),
    network: z.number().int(),
  }),
  z.object({
    type: z.literal("handshake_rejected"),
    seq: z.number().int(),
    target: z.string().meta({ description: "The name the request used; the node ID is not revealed" }),
    node_id: NodeId.optional().meta({ description: "Only when the request named the node by ID or address" }),
    reason: z.string(),
  }),
  z.object({ type: z.literal("trust_revoked"), seq: z.number().int(), node_id: NodeId }),
]);
export type NodeEvent = z.infer<typeof NodeEvent>;

export const NodeAck = z.strictObject({ type: z.literal("ack"), seq: z.number().int().min(0) });

/** Closes the node channel when the node deregisters. */
export const NODE_CHANNEL_CLOSE = { deregistered: 4003 } as const;
