/**
 * The daemon's handler of each local-socket command: it maps the validated arguments onto the
 * daemon, and the daemon's answer onto the result the contract (local-socket/contract.ts) gives.
 * The work itself is the daemon's (agent/, dataplane/).
 */
import type { Socket } from "node:net";
import { formatAddress } from "@pilot/protocol";
import type { PilotDaemon } from "../agent/pilot-daemon.ts";
import type { Connection } from "../dataplane/stream/connection.ts";
import type { Args, CallName, ConnectionInfo, Event, OpenerName, Result, WatchName } from "../local-socket/contract.ts";
import { pipeDatagrams } from "./datagram-pipe.ts";
import { pipeConnection } from "./stream-pipe.ts";

/** What a handler may do besides answering. */
export interface HandlerContext<K extends CallName | WatchName> {
  /** Sends an event (commands with events). */
  emit(event: K extends WatchName ? Event<K> : never): void;
  /** Runs `f` when the program's connection closes. */
  onClose(f: () => void): void;
  /** Stops the daemon once the reply has been sent. */
  stop(): void;
}

type Handlers = { [K in CallName | WatchName]: (d: PilotDaemon, args: Args<K>, ctx: HandlerContext<K>) => Promise<Result<K>> };

export const HANDLERS: Handlers = {
  info: async (d) => d.info(),
  peers: async (d) => ({ peers: d.peers() }),
  stop: async (_d, _a, ctx) => {
    ctx.stop();
    return { stopping: true, pid: process.pid };
  },

  "set-hostname": async (d, a) => named(await d.setHostname(a.hostname)),
  "clear-hostname": async (d) => named(await d.setHostname(null)),
  "set-tags": async (d, a) => d.registry.setTags(a.tags),
  "set-visibility": async (d, a) => {
    const self = await d.setVisibility(a.public);
    return { node_id: self.node_id, visibility: self.public ? "public" : "private" };
  },
  find: async (d, a) => {
    const n = await d.resolveName(a.hostname);
    return { hostname: n.hostname, node_id: n.node_id, address: n.address, public: n.public };
  },

  handshake: async (d, a) => {
    const reply = await d.trust.request(a.target, a.justification, a.ttl_seconds);
    return { status: reply.status, node_id: reply.node_id ?? null, expires_at: reply.expires_at ?? null };
  },
  pending: async (d) => ({ pending: await d.trust.pending() }),
  approve: async (d, a) => ({ status: "approved", node_id: a.node_id, expires_at: await d.trust.approve(a.node_id, a.ttl_seconds) }),
  reject: async (d, a) => {
    await d.trust.reject(a.node_id, a.reason);
    return { status: "rejected", node_id: a.node_id };
  },
  trust: async (d) => ({ trusted: await d.trust.trusted() }),
  untrust: (d, a) => d.trust.untrust(a.node_id),
  revocation: (d, a) => d.registry.revocation(a.revocation_id),

  "join-network": (d, a) => d.joinNetwork(a.network, a.token),
  "leave-network": async (d, a) => {
    await d.leaveNetwork(a.network_id);
    return { network_id: a.network_id };
  },
  networks: async (d) => ({ networks: await d.registry.networks() }),
  members: async (d, a) => ({ network_id: a.network_id, members: await d.registry.allMembers(a.network_id) }),
  invitations: async (d) => ({ invitations: await d.registry.invitations() }),
  "accept-invitation": (d, a) => d.acceptInvitation(a.network_id),
  "decline-invitation": async (d, a) => {
    await d.registry.declineInvitation(a.network_id);
    return { network_id: a.network_id };
  },

  why: (d, a) => d.why(a.target, a.port ?? null),

  ping: async (d, a) => {
    const nodeId = await d.nodeIdOf(a.target);
    return { target: a.target, node_id: nodeId, results: await d.ping(nodeId, a.count) };
  },

  "rotate-key": (d, a) => d.rotateKey(a.node_id),
  deregister: async (d, _a, ctx) => {
    const gone = await d.deregister();
    // Its tokens are revoked and its identity set aside: there is nothing left for it to do.
    ctx.stop();
    return gone;
  },
  lookup: async (d, a) => {
    const { node, networks } = await d.lookup(a.target);
    const { node_id, address, public_key, hostname, endpoint, online, last_seen } = node;
    return { node_id, address, public_key, public: node.public, hostname, real_addr: endpoint, networks, online, last_seen };
  },
  disconnect: async (d, a) => {
    d.streams.disconnect(a.conn_id);
    return { conn_id: a.conn_id };
  },

  bind: async (d, a, ctx) => {
    ctx.onClose(d.streams.listen(a.port, ({ conn, key }) => ctx.emit({ type: "connection", key, ...connectionInfo(conn) })));
    return { port: a.port, listening: true };
  },
  connections: async (d) => ({ connections: d.streams.list() }),
  subscribe: async (d, _a, ctx) => {
    const forward = (e: Event<"subscribe">) => ctx.emit(e);
    d.events.on("event", forward);
    ctx.onClose(() => d.events.off("event", forward));
    return { subscribed: true };
  },
};

/** A connection opened by its first request: the reply's data, and what then takes the socket over. */
export interface Opened<K extends OpenerName> {
  data: Result<K>;
  attach(socket: Socket, first: Buffer): void;
}

type Openers = { [K in OpenerName]: (d: PilotDaemon, args: Args<K>) => Promise<Opened<K>> };

export const OPENERS: Openers = {
  dial: async (d, a) => {
    const peer = await d.nodeIdOf(a.target);
    return stream(await d.failures.watch(peer, d.streams.dial(peer, a.port)));
  },
  accept: async (d, a) => stream(d.streams.claim(a.conn_id, a.key)),
  datagrams: async (d, { port }) => ({
    data: { port: port ?? null },
    attach: (socket, first) =>
      pipeDatagrams(socket, first, {
        send: async (datagram) => {
          const nodeId = await d.nodeIdOf(datagram.target);
          await d.datagrams.send(nodeId, datagram.port, datagram.data, datagram.src_port);
          return nodeId;
        },
        ...(port !== undefined && { listen: (deliver) => d.datagrams.listen(port, deliver) }),
        dropped: () => d.datagrams.drop(),
      }),
  }),
};

function stream(conn: Connection): Opened<"dial" | "accept"> {
  return { data: connectionInfo(conn), attach: (socket, first) => pipeConnection(conn, socket, first) };
}

function connectionInfo(conn: Connection): ConnectionInfo {
  return { conn_id: conn.id, node_id: conn.peer, address: formatAddress({ network: 0, node: conn.peer }), port: conn.remotePort, local_port: conn.localPort };
}

const named = (self: { hostname: string | null; node_id: number }) => ({ hostname: self.hostname, node_id: self.node_id });
