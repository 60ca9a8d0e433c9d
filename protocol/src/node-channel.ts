/**
 * What a node's own channel carries: everything addressed to one node, from any network or peer.
 * Handshake traffic (requests, decisions, revocations) and the node's memberships and invitations.
 */
import { z } from "zod";
import { Endpoint, NodeId, PublicKey, Timestamp } from "./api.ts";
import { NetworkId, NetworkName } from "./networks-api.ts";

const seq = z.number().int();

/**
 * Every event but hello and path_wanted has a sequence number; the node acks with `{"type":"ack","seq":n}` and the
 * registry then forgets everything up to n. Events not yet acknowledged are sent again on the next
 * connection, so nothing is lost while a node is offline.
 *
 * Membership events say what changed; the node's own list (`GET /v1/nodes/self/networks`) is the
 * state. A daemon re-reads that list on each of them, so a late or replayed event can never undo a
 * newer change.
 */
export const NodeEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    node_id: NodeId,
    truncated: z.boolean().meta({ description: "Events were dropped from a full inbox since the last connection" }),
  }),
  z.object({
    type: z.literal("handshake_request"),
    seq,
    node_id: NodeId,
    justification: z.string(),
    received_at: Timestamp,
    ttl_seconds: z.number().int().nullable().optional().meta({ description: "How long the requester asks the trust to last; null or absent: without end" }),
  }),
  z.object({
    type: z.literal("handshake_approved"),
    seq,
    node_id: NodeId,
    target: z.string().meta({ description: "The name the request used, for the side that asked" }),
    mutual: z.boolean(),
    network: z.number().int(),
    expires_at: Timestamp.nullable().optional().meta({ description: "When the trust ends by itself; null or absent when it lasts until revoked" }),
  }),
  z.object({
    type: z.literal("handshake_rejected"),
    seq,
    target: z.string().meta({ description: "The name the request used; the node ID is not revealed" }),
    node_id: NodeId.optional().meta({ description: "Only when the request named the node by ID or address" }),
    reason: z.string(),
  }),
  z.object({
    type: z.literal("trust_revoked"),
    seq,
    node_id: NodeId,
    reason: z.enum(["revoked", "expired", "suspended"]).optional().meta({
      description:
        "expired: the trust reached its end; suspended: the registry's operator suspended the node, and the pair is kept for trust_restored (absent from older registries: revoked)",
    }),
  }),
  z.object({
    type: z.literal("trust_restored"),
    seq,
    node_id: NodeId,
  }).meta({ description: "A trusted node the registry's operator had suspended is back: read the trust list again, which lists it once more." }),
  z.object({
    type: z.literal("key_rotated"),
    seq,
    node_id: NodeId,
    public_key: PublicKey.meta({ description: "The node's identity key from now on" }),
    rotated_at: Timestamp.meta({ description: "When the registry made the change: its certificates issued until then name the old key" }),
  }).meta({
    description:
      "A node this one trusts or shares a network with has a new identity key: forget the old one, its certificates and the tunnels it set up.",
  }),
  z.object({
    type: z.literal("network_added"),
    seq,
    network_id: NetworkId,
    name: NetworkName,
    how: z.enum(["added", "joined", "invitation_accepted"]).meta({
      description: "added: by the network's owner (the node is the owner's own); joined: with the join token; invitation_accepted: the node accepted",
    }),
  }),
  z.object({
    type: z.literal("network_removed"),
    seq,
    network_id: NetworkId,
    reason: z.enum(["removed", "left", "deleted"]),
  }),
  z.object({ type: z.literal("invitation_received"), seq, network_id: NetworkId, name: NetworkName, expires_at: Timestamp }),
  z.object({ type: z.literal("invitation_ended"), seq, network_id: NetworkId, reason: z.enum(["withdrawn", "expired", "deleted"]) }),
  z.object({ type: z.literal("join_token_rotated"), seq, network_id: NetworkId }),
  z.object({
    type: z.literal("path_wanted"),
    node_id: NodeId,
    endpoint: Endpoint.nullable().meta({ description: "The asking node's public endpoint, found by STUN" }),
    lan_addrs: z.array(Endpoint).meta({ description: "The asking node's own interface addresses: private IPv4 and global IPv6" }),
  }).meta({
    description:
      "A node that may reach this one wants a direct path (POST /v1/paths/{target}): probe its candidates now, so both NATs open. Sent only while the channel is open, never queued, and not acknowledged.",
  }),
]);
export type NodeEvent = z.infer<typeof NodeEvent>;

/** The node channel's events about the node's networks and invitations (the rest are about trust). */
export const MEMBERSHIP_EVENTS = ["network_added", "network_removed", "invitation_received", "invitation_ended", "join_token_rotated"] as const;

export const NodeAck = z.strictObject({ type: z.literal("ack"), seq: z.number().int().min(0) });
