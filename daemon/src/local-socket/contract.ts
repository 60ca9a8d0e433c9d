/**
 * The commands of the local socket, each written once: the schema of its arguments, of its result
 * and, for a command that keeps its connection open, of its events. The daemon validates every
 * request's arguments against them and its handlers are typed by them (ipc/); the SDK's calls are
 * typed by them (sdk/).
 *
 * How a command uses its connection:
 *   (plain)  one reply; more requests may follow on the same connection
 *   event    a reply, then event frames until the connection closes
 *   opens    only as the first request on a connection of its own: after the reply the connection
 *            carries stream frames (stream-frames.ts) or datagram frames (datagram-frames.ts)
 *
 * The daemon is of the same package as the SDK, so replies and events are typed, not checked again.
 */
import { z } from "zod";
import {
  HandshakeDecision,
  HandshakeReply,
  Hostname,
  Invitation,
  Joined,
  MAX_JUSTIFICATION,
  MAX_NODE_ID,
  Member,
  Membership,
  PendingHandshake,
  Revoked,
  TagList,
  TagsResponse,
  RevocationId,
  RevocationSummary,
  TrustedPeer,
  TrustTtl,
  type NodeEvent,
  type PushEvent,
} from "@pilot/protocol";
import type { ConnectionListing } from "../dataplane/stream/streams.ts";
import { MAX_DATAGRAM } from "../wire/packet.ts";
import { PilotError } from "../errors.ts";

/** A node ID, Pilot address or hostname. */
const NodeName = z.string().min(1).max(80);
const NodeIdArg = z.number().int().min(1).max(MAX_NODE_ID - 1);
const NetworkIdArg = z.number().int().min(1).max(0xffff);
const Port = z.number().int().min(1).max(0xffff);
const Count = z.number().int().min(0);
const none = z.strictObject({});

/** A peer with a live tunnel, and the path to it. */
export const PeerPath = z.strictObject({
  node_id: Count,
  path: z.enum(["direct", "turn", "relay"]),
  /** The peer's endpoint on a direct path; null through the relay. */
  endpoint: z.string().nullable(),
  /** The path's MTU as path MTU discovery has confirmed it (IP packet bytes); null through the relay, and before a peer that opened the tunnel has sent on its path. */
  mtu: Count.nullable(),
  rtt_ms: z.number().nullable(),
  path_changed_at: z.string(),
  key_age_secs: Count,
});

export const Info = z.strictObject({
  node_id: Count,
  address: z.string(),
  hostname: z.string().nullable(),
  public: z.boolean(),
  public_key: z.string(),
  registry: z.string(),
  /** suspended: the registry's operator suspended this node; `suspension` says why. */
  registry_status: z.enum(["connected", "unreachable", "suspended"]),
  /** The registry's words while it refuses this node as suspended; null otherwise. */
  suspension: z.string().nullable(),
  endpoint: z.string().nullable(),
  lan_addrs: z.array(z.string()),
  stun: z.strictObject({ server: z.string(), status: z.enum(["ok", "unreachable", "off"]) }),
  nat: z.enum(["none", "endpoint-independent", "endpoint-dependent", "unknown"]),
  relay_status: z.enum(["connected", "connecting"]),
  /** STUN is on and never answers: UDP reaches nothing beyond the LAN, so peers are dialed through the relay. */
  relay_only: z.boolean(),
  /** The relayed address this node holds on the registry's TURN server, if the registry offers TURN. */
  turn_addr: z.string().nullable(),
  uptime_secs: Count,
  peers: z.array(PeerPath),
  networks: z.array(z.strictObject({ network_id: Count, synced: z.boolean() })),
  trusted: Count,
  connections: Count,
  packets: z.strictObject({ peers: Count, sent: Count, received: Count, dropped: Count }),
  /** The daemon process's memory (its resident size null where /proc is hidden), and its garbage collections since the daemon started. */
  memory: z.strictObject({ rss_bytes: Count.nullable(), heap_used_bytes: Count, major_gcs: Count, minor_gcs: Count }),
  /** Whether the process hands datagrams to the kernel several per system call (send-batching.ts); the log says why not. */
  send_batching: z.boolean(),
});
export type Info = z.infer<typeof Info>;

/** How a policy answers for one network and protocol: the rule that allows (its index), or why none does. */
const PolicyAnswer = z.strictObject({ allowed: z.boolean(), rule: Count.nullable(), reason: z.enum(["no_policy", "rule", "no_rule"]) });

/**
 * `pilotctl why`: what stands between this node and a target, as this node sees it. The top-level
 * fields are always present; what could not be learned is null. For a target the registry does not
 * show this node, only what this node holds itself is filled in, exactly as for one that does not exist.
 */
export const WhyReport = z.strictObject({
  target: z.string(),
  port: Port.nullable(),
  /** true: nothing this node can see stands in the way; false: something does (the first finding that blocks); null: it cannot tell. */
  reachable: z.boolean().nullable(),
  findings: z.array(z.strictObject({ code: z.string(), severity: z.enum(["blocks", "warns", "info"]), message: z.string(), hint: z.string() })),
  daemon: z.strictObject({ running: z.boolean() }),
  registry: z.strictObject({ reachable: z.boolean(), error: z.string().nullable() }).nullable(),
  nat: z
    .strictObject({
      nat: Info.shape.nat,
      endpoint: z.string().nullable(),
      lan_addrs: z.array(z.string()),
      stun: Info.shape.stun.shape.status,
      relay_only: z.boolean(),
      relay_status: Info.shape.relay_status,
      turn_addr: z.string().nullable(),
    })
    .nullable(),
  node: z.strictObject({ node_id: Count, address: z.string(), hostname: z.string().nullable(), public: z.boolean(), online: z.boolean(), last_seen: z.string().nullable() }).nullable(),
  path: z
    .strictObject({
      state: z.enum(["direct", "turn", "relay", "opening", "none"]),
      endpoint: z.string().nullable(),
      mtu: Count.nullable(),
      rtt_ms: z.number().nullable(),
      last_handshake_at: z.string().nullable(),
    })
    .nullable(),
  last_error: z.strictObject({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
  trust: z
    .strictObject({
      state: z.enum(["trusted", "pending", "rejected", "none"]),
      /** When trust was approved, or the request sent. */
      since: z.string().nullable(),
      mutual: z.boolean().nullable(),
      reason: z.string().nullable(),
      /** When time-boxed trust ends by itself (pilotctl handshake/approve --ttl); null: without end, or not trusted. */
      until: z.string().nullable(),
    })
    .nullable(),
  /** A request from the target waiting for this node's decision. */
  incoming_request: z.strictObject({ node_id: Count, justification: z.string(), received_at: z.string() }).nullable(),
  /** The networks (in sync) this node shares with the target. */
  networks: z.array(Count),
  /** With a port: what each shared network's port policy says of this node reaching the target on it. */
  policy: z.array(z.strictObject({ network_id: Count, stream: PolicyAnswer, datagram: PolicyAnswer })),
});
export type WhyReport = z.infer<typeof WhyReport>;
export type PolicyAnswer = z.infer<typeof PolicyAnswer>;

const NamedNode = z.strictObject({ hostname: z.string().nullable(), node_id: Count });

/** What a program learns about a stream connection when it opens or is offered. */
export const ConnectionInfo = z.strictObject({ conn_id: Count, node_id: Count, address: z.string(), port: Port, local_port: Port });
export type ConnectionInfo = z.infer<typeof ConnectionInfo>;

type WithoutSeq<E> = E extends unknown ? Omit<E, "seq"> : never;

/**
 * What the daemon tells its programs: trust and handshake events and this node's memberships and
 * invitations (from its own channel), its networks' membership and policy changes (from each
 * network's channel), and peers it cut off.
 */
export type DaemonEvent =
  | WithoutSeq<Exclude<NodeEvent, { type: "hello" | "path_wanted" }>>
  | Exclude<PushEvent, { type: "hello" }>
  | { type: "peer_cut_off"; node_id: number; reason: string }
  /** A network's channel is in sync: its members may reach this node, and it them. */
  | { type: "network_synced"; network_id: number; members: number };

const NetworkIdResult = z.strictObject({ network_id: Count });
const Listening = z.strictObject({ port: Port, listening: z.literal(true) });

interface CommandSpec {
  args: z.ZodType<object>;
  result: z.ZodType;
  event?: z.ZodType;
  opens?: "stream" | "datagrams";
}

export const COMMANDS = {
  info: { args: none, result: Info },
  peers: { args: none, result: z.strictObject({ peers: z.array(PeerPath) }) },
  stop: { args: none, result: z.strictObject({ stopping: z.literal(true), pid: Count }) },

  "set-hostname": { args: z.strictObject({ hostname: Hostname }), result: NamedNode },
  "clear-hostname": { args: none, result: NamedNode },
  /** The tags this node requests for itself (empty clears them); they count where a network allows self-tagging. */
  "set-tags": { args: z.strictObject({ tags: TagList }), result: TagsResponse },
  "set-visibility": { args: z.strictObject({ public: z.boolean() }), result: z.strictObject({ node_id: Count, visibility: z.enum(["public", "private"]) }) },
  find: {
    args: z.strictObject({ hostname: NodeName }),
    result: NamedNode.extend({ address: z.string(), public: z.boolean() }),
  },

  handshake: {
    args: z.strictObject({ target: NodeName, justification: z.string().trim().min(1).max(MAX_JUSTIFICATION), ttl_seconds: TrustTtl.optional() }),
    result: z.strictObject({ status: HandshakeReply.shape.status, node_id: Count.nullable(), expires_at: TrustedPeer.shape.expires_at }),
  },
  pending: {
    args: none,
    result: z.strictObject({ pending: z.array(PendingHandshake.pick({ node_id: true, justification: true, received_at: true, ttl_seconds: true })) }),
  },
  approve: {
    args: z.strictObject({ node_id: NodeIdArg, ttl_seconds: TrustTtl.optional() }),
    result: z.strictObject({ status: z.literal("approved"), node_id: NodeIdArg, expires_at: TrustedPeer.shape.expires_at }),
  },
  reject: {
    args: z.strictObject({ node_id: NodeIdArg, reason: z.string().max(MAX_JUSTIFICATION).default("") }),
    result: HandshakeDecision,
  },
  trust: { args: none, result: z.strictObject({ trusted: z.array(TrustedPeer) }) },
  untrust: { args: z.strictObject({ node_id: NodeIdArg }), result: Revoked },
  revocation: { args: z.strictObject({ revocation_id: RevocationId }), result: RevocationSummary },

  "join-network": {
    args: z.strictObject({ network: z.union([NetworkIdArg, z.string().max(2048)]), token: z.string().max(256).optional() }),
    result: Joined,
  },
  "leave-network": { args: z.strictObject({ network_id: NetworkIdArg }), result: NetworkIdResult },
  networks: { args: none, result: z.strictObject({ networks: z.array(Membership) }) },
  members: {
    args: z.strictObject({ network_id: NetworkIdArg }),
    result: z.strictObject({ network_id: Count, members: z.array(Member) }),
  },
  invitations: { args: none, result: z.strictObject({ invitations: z.array(Invitation) }) },
  "accept-invitation": { args: z.strictObject({ network_id: NetworkIdArg }), result: Joined },
  "decline-invitation": { args: z.strictObject({ network_id: NetworkIdArg }), result: NetworkIdResult },

  why: { args: z.strictObject({ target: NodeName, port: Port.optional() }), result: WhyReport },

  ping: {
    args: z.strictObject({ target: NodeName, count: z.number().int().min(1).max(100).default(4) }),
    result: z.strictObject({
      target: z.string(),
      node_id: Count,
      results: z.array(z.union([z.strictObject({ seq: Count, rtt_ms: z.number() }), z.strictObject({ seq: Count, error: z.string() })])),
    }),
  },

  // ── This node's identity, another node's, and one connection ──
  "rotate-key": {
    /** The node ID, if given, must be this node's: a guard against rotating the wrong home's node. */
    args: z.strictObject({ node_id: NodeIdArg.optional() }),
    result: z.strictObject({ node_id: Count, address: z.string(), public_key: z.string(), rotated_at: z.string() }),
  },
  deregister: {
    args: none,
    result: z.strictObject({ node_id: Count, deregistered: z.literal(true), identity_archived: z.string() }),
  },
  lookup: {
    args: z.strictObject({ target: NodeName }),
    result: z.strictObject({
      node_id: Count,
      address: z.string(),
      public_key: z.string(),
      public: z.boolean(),
      hostname: z.string().nullable(),
      /** The node's public endpoint, as the registry shows it to a node allowed to see it. */
      real_addr: z.string().nullable(),
      /** The networks this node knows it shares with it (those whose channel is in sync). */
      networks: z.array(Count),
      online: z.boolean(),
      last_seen: z.string().nullable(),
    }),
  },
  disconnect: {
    args: z.strictObject({ conn_id: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
    result: z.strictObject({ conn_id: Count }),
  },

  /** Offers each stream connection accepted on the port, until the connection closes. */
  bind: { args: z.strictObject({ port: Port }), result: Listening, event: ConnectionInfo.extend({ type: z.literal("connection"), key: z.string() }) },
  connections: { args: none, result: z.strictObject({ connections: z.array(z.custom<ConnectionListing>()) }) },
  subscribe: { args: none, result: z.strictObject({ subscribed: z.literal(true) }), event: z.custom<DaemonEvent>() },

  dial: { args: z.strictObject({ target: NodeName, port: Port }), result: ConnectionInfo, opens: "stream" },
  /** Picks up a connection `bind` offered. */
  accept: { args: z.strictObject({ conn_id: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), key: z.string().regex(/^[0-9a-f]{32}$/) }), result: ConnectionInfo, opens: "stream" },
  /** Sends datagrams, and with a port, receives the datagrams arriving on it until the connection closes. */
  datagrams: { args: z.strictObject({ port: Port.optional() }), result: z.strictObject({ port: Port.nullable() }), opens: "datagrams" },
} satisfies Record<string, CommandSpec>;

/** A datagram sent on a datagram connection; the daemon answers with the node ID its target names. */
export const DatagramSend = z.strictObject({
  target: NodeName,
  port: Port,
  src_port: Port.optional(),
  data: z.custom<Buffer>((b) => Buffer.isBuffer(b)).refine((b) => b.length <= MAX_DATAGRAM, `a datagram carries at most ${MAX_DATAGRAM} bytes`),
});
export type DatagramSend = z.output<typeof DatagramSend>;

type Commands = typeof COMMANDS;
export type CommandName = keyof Commands;
/** Commands that are the first request on a connection of their own, which they turn into a stream or datagram connection. */
export type OpenerName = { [K in CommandName]: Commands[K] extends { opens: string } ? K : never }[CommandName];
/** Commands that send events after their reply, until the connection closes. */
export type WatchName = { [K in CommandName]: Commands[K] extends { event: z.ZodType } ? K : never }[CommandName];
/** Commands with one reply. */
export type CallName = Exclude<CommandName, OpenerName | WatchName>;

/** A command's arguments as a caller gives them (defaults may be left out). */
export type ArgsIn<K extends CommandName> = z.input<Commands[K]["args"]>;
/** A command's arguments as its handler gets them. */
export type Args<K extends CommandName> = z.output<Commands[K]["args"]>;
export type Result<K extends CommandName> = z.output<Commands[K]["result"]>;
export type Event<K extends WatchName> = z.output<Commands[K]["event"]>;
/** A caller's arguments, which it may leave out when the command takes none. */
export type ArgsParam<K extends CommandName> = {} extends ArgsIn<K> ? [args?: ArgsIn<K>] : [args: ArgsIn<K>];

export const isOpener = (cmd: string): cmd is OpenerName => Object.hasOwn(COMMANDS, cmd) && "opens" in COMMANDS[cmd as CommandName];

/**
 * `args` as `schema` reads them, or an `invalid_argument` error naming the first problem. The
 * daemon checks everything that reaches it so; the SDK checks a datagram so before it frames it.
 */
export function parseArgs<S extends z.ZodType>(cmd: string, schema: S, args: unknown): z.output<S> {
  const parsed = schema.safeParse(args);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new PilotError("invalid_argument", `${cmd}: ${issue?.path.join(".") || "arguments"}: ${issue?.message}`, `run pilotctl context to see what ${cmd} takes`);
}
