/** This node: what it is, its peers, and how others find it. */
import { call } from "../daemon-call.ts";
import type { Command } from "../command.ts";

export const NODE_COMMANDS: Command[] = [
  {
    name: "info",
    group: "node",
    args: [],
    description: "This node and its daemon. Address, registry and STUN state, NAT, paths to peers, networks, packet counts.",
    returns:
      "node_id, address, hostname, public, public_key, registry, registry_status, endpoint, lan_addrs, stun{server,status}, nat, relay_status, relay_only, turn_addr, uptime_secs, peers[{node_id,path,endpoint,mtu,rtt_ms,path_changed_at,key_age_secs}], networks[{network_id,synced}], trusted, connections, packets{peers,sent,received,dropped}",
    example: "pilotctl info",
    run: () => call("info"),
  },
  {
    name: "peers",
    group: "node",
    args: [],
    flags: { search: "only peers whose node ID or endpoint contains TEXT" },
    description: "Peers with a live tunnel, and the path to each. A path is direct, turn or relay.",
    returns: "peers[{node_id, path, endpoint, mtu, rtt_ms, path_changed_at, key_age_secs}], total",
    example: "pilotctl peers --search 10.0.0",
    run: async ({ flags }) => {
      const { peers } = await call("peers");
      const search = flags.search;
      const found = search === undefined ? peers : peers.filter((p) => String(p.node_id).includes(search) || (p.endpoint ?? "").includes(search));
      return { peers: found, total: found.length };
    },
  },
  {
    name: "set-hostname",
    group: "node",
    args: [{ name: "hostname" }],
    description: "Give this node a hostname others may resolve. Lowercase letters, digits and hyphens; unique.",
    returns: "hostname, node_id",
    example: "pilotctl set-hostname agent-a",
    run: ({ args }) => call("set-hostname", { hostname: args[0]! }),
  },
  {
    name: "clear-hostname",
    group: "node",
    args: [],
    description: "Remove this node's hostname",
    returns: "hostname (null), node_id",
    example: "pilotctl clear-hostname",
    run: () => call("clear-hostname"),
  },
  {
    name: "set-public",
    group: "node",
    args: [],
    description: "Let anyone resolve and reach this node",
    returns: "node_id, visibility",
    example: "pilotctl set-public",
    run: () => call("set-visibility", { public: true }),
  },
  {
    name: "set-private",
    group: "node",
    args: [],
    description: "Let only trusted peers and co-members resolve and reach this node. This is the default.",
    returns: "node_id, visibility",
    example: "pilotctl set-private",
    run: () => call("set-visibility", { public: false }),
  },
  {
    name: "find",
    group: "node",
    args: [{ name: "hostname" }],
    description: "Resolve a hostname this node may see. A private node it may not see is not found, exactly like a missing one.",
    returns: "hostname, node_id, address, public",
    example: "pilotctl find agent-b",
    run: ({ args }) => call("find", { hostname: args[0]! }),
  },
];
