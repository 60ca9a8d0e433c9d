/** Trust between two nodes: handshake requests, decisions on them, and revocation. */
import { call } from "../daemon-call.ts";
import type { Result } from "../../local-socket/contract.ts";
import { duration, nodeId, type Command } from "../command.ts";

const TARGET = { name: "node_id|address|hostname" };
const TTL = "the trust ends by itself after DURATION (30s, 90m, 24h, 7d; at most 365d, at least the registry's minimum, a minute unless changed)";

/** A trusted peer in words: who, how, since when, and until when. */
const peerLine = (t: Result<"trust">["trusted"][number]) =>
  [
    `node ${t.node_id}`,
    t.network ? `through network ${t.network}` : t.mutual ? "mutual" : "approved",
    `since ${t.approved_at}`,
    t.expires_at === null ? "no expiry" : `expires ${t.expires_at}`,
  ].join(" · ");

export const TRUST_COMMANDS: Command[] = [
  {
    name: "handshake",
    group: "trust",
    args: [TARGET, { name: "justification" }],
    flags: { ttl: `${TTL}; the approver may shorten it` },
    description:
      "Ask a node for trust, saying why. Crossing requests approve each other at once (for the shorter TTL of the two); otherwise the node sees it in pilotctl pending.",
    returns: "status (sent|approved|trusted), node_id, expires_at (null: no end, or not approved yet)",
    example: 'pilotctl handshake agent-b "want to collaborate" --ttl 24h',
    run: ({ args, flags }) => call("handshake", { target: args[0]!, justification: args[1]!, ttl_seconds: duration(flags) }),
  },
  {
    name: "pending",
    group: "trust",
    args: [],
    description: "Handshake requests waiting for this node's decision",
    returns: "pending[{node_id, justification, received_at, ttl_seconds (what the requester asked for; null: no end)}]",
    example: "pilotctl pending",
    run: () => call("pending"),
  },
  {
    name: "approve",
    group: "trust",
    args: [{ name: "node_id" }],
    flags: { ttl: `${TTL}; the shorter of this and the requester's TTL wins` },
    description: "Approve a pending handshake request. Both nodes then trust each other, until revoked or until the TTL either side gave runs out.",
    returns: "status, node_id, expires_at (null: no end)",
    example: "pilotctl approve 42 --ttl 7d",
    run: ({ args, flags }) => call("approve", { node_id: nodeId(args[0]), ttl_seconds: duration(flags) }),
  },
  {
    name: "reject",
    group: "trust",
    args: [{ name: "node_id" }, { name: "reason", optional: true }],
    description: "Reject a pending handshake request. The requester is told the reason.",
    returns: "status, node_id",
    example: 'pilotctl reject 42 "not expecting you"',
    run: ({ args }) => call("reject", { node_id: nodeId(args[0]), reason: args[1] ?? "" }),
  },
  {
    name: "trust",
    group: "trust",
    args: [],
    description: "The peers this node trusts, and when each trust ends. Trust that reaches its end is dropped and the peer cut off, as untrust does, even with the registry unreachable.",
    returns: "trusted[{node_id, mutual, network, approved_at, expires_at (null: no end)}]",
    example: "pilotctl trust",
    human: (data: Result<"trust">) => (data.trusted.length === 0 ? "no trusted peers" : data.trusted.map(peerLine).join("\n")),
    run: () => call("trust"),
  },
  {
    name: "untrust",
    group: "trust",
    args: [{ name: "node_id" }],
    description:
      "Revoke trust in a peer. It is cut off at once, its live connections closed, on both sides; each daemon confirms its cut-off to the registry under revocation_id.",
    returns: "node_id, revocation_id",
    example: "pilotctl untrust 42",
    run: ({ args }) => call("untrust", { node_id: nodeId(args[0]) }),
  },
  {
    name: "revocation",
    group: "trust",
    args: [{ name: "revocation_id" }],
    description: "Whether both daemons have confirmed, signed, that they cut each other off after an untrust (its revocation_id); any revocation this node is party to",
    returns: "revocation_id, kind, node_id, created_at, expected, confirmed, slowest_ms, pending",
    example: "pilotctl revocation rv_3q2aVb0xYz8k1LmN4oPqRs",
    run: ({ args }) => call("revocation", { revocation_id: args[0]! }),
  },
];
