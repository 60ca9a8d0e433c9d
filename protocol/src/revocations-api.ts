/**
 * Revocation receipts: each daemon a revocation concerns confirms, signed with its identity key,
 * that it has cut the peer off; the network's owner sees how many did and how fast.
 */
import { z } from "zod";
import { MAX_NODE_ID } from "./address.ts";
import { NodeId, Signature, Timestamp } from "./api.ts";
import { NetworkId } from "./networks-api.ts";
import { PolicyRevision } from "./policy-api.ts";

export const REVOCATION_ID_PATTERN = /^rv_[A-Za-z0-9_-]{22}$/;
export const RevocationId = z
  .string()
  .regex(REVOCATION_ID_PATTERN, "must be a revocation ID (rv_ and 22 characters)")
  .meta({ description: "A revocation's ID: 128 random bits", example: "rv_3q2aVb0xYz8k1LmN4oPqRs" });

export const RevocationKind = z.enum(["removed", "left", "deregistered", "untrust", "policy"]).meta({
  description:
    "removed: the owner removed the node; left: it left; deregistered: it deregistered; untrust: a node revoked its trust in another; policy: a network's port policy or a member's tags changed, which every member confirms it enforces",
});
export type RevocationKind = z.infer<typeof RevocationKind>;

export const ReceiptPeer = z
  .number()
  .int()
  .min(0)
  .max(MAX_NODE_ID - 1)
  .meta({ description: "The node this daemon cut off; 0 for every member of the network it was removed from" });

export const ReceiptRequest = z
  .strictObject({
    peer: ReceiptPeer,
    cut_at: Timestamp.meta({ description: "The daemon's own clock when the peer was cut off: shown, never used to time the receipt" }),
    signature: Signature.meta({
      description: "Ed25519 signature by the node's current identity key of pilot-revocation-receipt-v1\\n{origin}\\n{revocation_id}\\n{node_id}\\n{peer}\\n{cut_at}",
    }),
  })
  .meta({ id: "ReceiptRequest" });
export type ReceiptRequest = z.infer<typeof ReceiptRequest>;

export const ReceiptRecorded = z
  .object({
    revocation_id: RevocationId,
    result: z.enum(["recorded", "already_recorded"]).meta({ description: "already_recorded: an earlier receipt counts; this one changed nothing" }),
  })
  .meta({ id: "ReceiptRecorded" });
export type ReceiptRecorded = z.infer<typeof ReceiptRecorded>;

export const PendingCut = z
  .object({
    revocation_id: RevocationId,
    kind: RevocationKind,
    network_id: NetworkId.nullable().meta({ description: "The network the revocation is about; null for an untrust" }),
    peer: ReceiptPeer,
    revision: PolicyRevision.optional().meta({
      description: "For a policy change: the network's policy revision this node must hold, with what it forbids reset, before it confirms",
    }),
  })
  .meta({ id: "PendingCut", description: "A cut-off this node has not confirmed yet" });
export type PendingCut = z.infer<typeof PendingCut>;

export const PendingCutList = z.object({ revocations: z.array(PendingCut) }).meta({ id: "PendingCutList" });

export const RevocationSummary = z
  .object({
    revocation_id: RevocationId,
    kind: RevocationKind,
    node_id: NodeId.nullable().meta({
      description: "The node removed, the node that revoked its trust, or the member whose tags changed; null for the owner's change of the policy itself",
    }),
    created_at: Timestamp,
    expected: z.number().int().meta({ description: "Daemons that must confirm: every member at the moment of the change (and, for a removal, the node itself)" }),
    confirmed: z.number().int(),
    slowest_ms: z
      .number()
      .int()
      .nullable()
      .meta({ description: "From the registry's answer to the latest receipt so far, by the registry's clock; null before the first" }),
    pending: z.array(NodeId).meta({ description: "The daemons that have not confirmed yet, in node order: the first 100" }),
  })
  .meta({ id: "RevocationSummary" });
export type RevocationSummary = z.infer<typeof RevocationSummary>;

export const RevocationList = z
  .object({ revocations: z.array(RevocationSummary) })
  .meta({ id: "RevocationList", description: "The network's 20 most recent revocations, newest first" });
export type RevocationList = z.infer<typeof RevocationList>;

/**
 * What the owner's live view of a network (the console's, never a member's channel) receives when
 * one of its revocations is made or a receipt for it lands.
 */
export const RevocationUpdate = z.object({ type: z.literal("revocation"), network_id: NetworkId, revocation: RevocationSummary });
export type RevocationUpdate = z.infer<typeof RevocationUpdate>;
