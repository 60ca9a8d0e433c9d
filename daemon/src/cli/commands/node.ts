/** This node: what it is, its identity, its peers, and how others find it (and it them). */
import { call } from "../daemon-call.ts";
import { nodeId, type Command } from "../command.ts";

export const NODE_COMMANDS: Command[] = [
  {
    name: "info",
    group: "node",
    args: [],
    description:
      "This node and its daemon. Address, registry and STUN state (registry_status suspended: the registry's operator suspended the node, and suspension says why), NAT, paths to peers, networks, packet counts.",
    returns:
      "node_id, address, hostname, public, public_key, registry, registry_status, suspension, endpoint, lan_addrs, stun{server,status}, nat, relay_status, relay_only, turn_addr, uptime_secs, peers[{node_id,path,endpoint,mtu,rtt_ms,path_changed_at,key_age_secs}], networks[{network_id,synced}], trusted, connections, packets{peers,sent,received,dropped}, memory{rss_bytes,heap_used_bytes,major_gcs,minor_gcs}, send_batching",
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
    name: "set-tags",
    group: "node",
    args: [{ name: "tag", repeats: true }],
    description:
      "Set the tags this node asks for (replacing any before). They count only in networks whose owner allows self-tagging; elsewhere the owner sees them and decides. A tag is 1-32 of a-z, 0-9 and -; at most 16.",
    returns: "tags",
    example: "pilotctl set-tags frontend web",
    run: ({ args }) => call("set-tags", { tags: args }),
  },
  {
    name: "clear-tags",
    group: "node",
    args: [],
    description: "Withdraw the tags this node asks for",
    returns: "tags (empty)",
    example: "pilotctl clear-tags",
    run: () => call("set-tags", { tags: [] }),
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
  {
    name: "lookup",
    group: "node",
    args: [{ name: "node_id|address|hostname" }],
    description: "A node this node may see. One it may not see is not_found, exactly like one that does not exist.",
    returns: "node_id, address, public_key, public, hostname, real_addr, networks (shared with this node), online, last_seen",
    example: "pilotctl lookup agent-b",
    differs: "The reference answers anyone, for any node; this goes through the registry's privacy gate like every resolution.",
    run: ({ args }) => call("lookup", { target: args[0]! }),
  },
  {
    name: "rotate-key",
    group: "node",
    args: [{ name: "node_id", optional: true }],
    description:
      "Move this node to a new identity key. It keeps its node ID, address, hostname, networks and trust; the nodes that trust it or share a network with it learn the new key, and its tunnels are set up afresh.",
    returns: "node_id, address, public_key (the new key), rotated_at",
    example: "pilotctl rotate-key",
    differs: "The reference's form is rotate-key <id> <owner>; here the daemon proves the change with both keys, so there is no owner, and a node ID, if given, must be this node's.",
    run: ({ args }) => call("rotate-key", args[0] === undefined ? {} : { node_id: nodeId(args[0]) }),
  },
  {
    name: "deregister",
    group: "node",
    args: [],
    description:
      "Remove this node from the registry and stop the daemon. Its networks and trust end and its peers cut it off; its identity key is set aside, so a later start is a new node.",
    returns: "node_id, deregistered, identity_archived (where the key was set aside)",
    example: "pilotctl deregister",
    run: () => call("deregister"),
  },
];
