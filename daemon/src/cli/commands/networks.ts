/**
 * Networks this node belongs to, joins and invitations. The reference Pilot groups them under
 * `pilotctl network …`; today's flat names stay as aliases, so scripts of either kind work.
 */
import { call } from "../daemon-call.ts";
import { networkId, type Command } from "../command.ts";

const NETWORK = { name: "network_id" };

export const NETWORK_COMMANDS: Command[] = [
  {
    name: "network list",
    aliases: ["networks"],
    group: "networks",
    args: [],
    description: "Networks this node belongs to",
    returns: "networks[{network_id, name, address, joined_at}]",
    example: "pilotctl network list",
    run: () => call("networks"),
  },
  {
    name: "network members",
    aliases: ["members"],
    group: "networks",
    args: [NETWORK],
    description: "A network's members, with their online state and addresses",
    returns: "network_id, members[{node_id, address, hostname, online, endpoint, lan_addrs, capabilities, joined_at}]",
    example: "pilotctl network members 7",
    run: ({ args }) => call("members", { network_id: networkId(args[0]) }),
  },
  {
    name: "network join",
    aliases: ["join-network"],
    group: "networks",
    args: [{ name: "network_id|join URL" }],
    flags: { token: "the network's join token (not needed with a join URL, which carries it)" },
    description: "Join a token-gated network. Give its ID and token, or the join URL its owner shared.",
    returns: "network_id, address, joined_at",
    example: "pilotctl network join 7 --token 3f9c…   or   pilotctl network join https://registry.example.com/join/7#3f9c…",
    run: ({ args, flags }) => call("join-network", /^[0-9]+$/.test(args[0]!) ? { network: networkId(args[0]), token: flags.token } : { network: args[0]! }),
  },
  {
    name: "network leave",
    aliases: ["leave-network"],
    group: "networks",
    args: [NETWORK],
    description: "Leave a network. Its members can no longer reach this node, nor it them.",
    returns: "network_id",
    example: "pilotctl network leave 7",
    run: ({ args }) => call("leave-network", { network_id: networkId(args[0]) }),
  },
  {
    name: "network invites",
    aliases: ["invitations"],
    group: "networks",
    args: [],
    description: "Open invitations to networks",
    returns: "invitations[{network_id, name, invited_at, expires_at}]",
    example: "pilotctl network invites",
    run: () => call("invitations"),
  },
  {
    name: "network accept",
    aliases: ["accept-invitation"],
    group: "networks",
    args: [NETWORK],
    description: "Accept an invitation and join the network",
    returns: "network_id, address, joined_at",
    example: "pilotctl network accept 7",
    run: ({ args }) => call("accept-invitation", { network_id: networkId(args[0]) }),
  },
  {
    name: "network reject",
    aliases: ["decline-invitation"],
    group: "networks",
    args: [NETWORK],
    description: "Decline an invitation",
    returns: "network_id",
    example: "pilotctl network reject 7",
    run: ({ args }) => call("decline-invitation", { network_id: networkId(args[0]) }),
  },
];
