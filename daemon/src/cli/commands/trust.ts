/** Trust between two nodes: handshake requests, decisions on them, and revocation. */
import { call } from "../daemon-call.ts";
import { nodeId, type Command } from "../command.ts";

const TARGET = { name: "node_id|address|hostname" };

export const TRUST_COMMANDS: Command[] = [
  {
    name: "handshake",
    group: "trust",
    args: [TARGET, { name: "justification" }],
    description: "Ask a node for trust, saying why. Crossing requests approve each other at once; otherwise the node sees it in pilotctl pending.",
    returns: "status (sent|approved|trusted), node_id",
    example: 'pilotctl handshake agent-b "want to collaborate"',
    run: ({ args }) => call("handshake", { target: args[0]!, justification: args[1]! }),
  },
  {
    name: "pending",
    group: "trust",
    args: [],
    description: "Handshake requests waiting for this node's decision",
    returns: "pending[{node_id, justification, received_at}]",
    example: "pilotctl pending",
    run: () => call("pending"),
  },
  {
    name: "approve",
    group: "trust",
    args: [{ name: "node_id" }],
    description: "Approve a pending handshake request. Both nodes then trust each other.",
    returns: "status, node_id",
    example: "pilotctl approve 42",
    run: ({ args }) => call("approve", { node_id: nodeId(args[0]) }),
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
    description: "The peers this node trusts",
    returns: "trusted[{node_id, mutual, network, approved_at}]",
    example: "pilotctl trust",
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
