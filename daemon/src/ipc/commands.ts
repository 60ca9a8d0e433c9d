/**
 * What programs and pilotctl may ask the daemon over the local socket. Each command has a schema
 * for its arguments and returns the fields the Pilot command set documents (pilotctl `context`
 * lists them). Streaming commands (listen, bind, subscribe) send events until the connection
 * closes. Stream openers (dial, accept) turn their connection into the stream (see server.ts).
 */
import { z } from "zod";
import type { PilotDaemon } from "../agent/pilot-daemon.ts";
import type { Connection } from "../dataplane/stream/connection.ts";
import type { DatagramIn } from "../dataplane/tunnel/tunnels.ts";
import { MAX_DATAGRAM } from "../dataplane/tunnel/tunnels.ts";
import { PilotError } from "../errors.ts";
import { formatAddress, Hostname, MAX_JUSTIFICATION, MAX_NODE_ID } from "@pilot/protocol";

const NodeName = z.string().min(1).max(80);
const NodeIdArg = z.number().int().min(1).max(MAX_NODE_ID - 1);
const NetworkIdArg = z.number().int().min(1).max(0xffff);
const Port = z.number().int().min(1).max(0xffff);

type Emit = (event: unknown) => void;
type Handler = (d: PilotDaemon, args: never, emit: Emit, onClose: (f: () => void) => void) => Promise<unknown>;

interface Command<S extends z.ZodType> {
  args: S;
  run: (d: PilotDaemon, args: z.infer<S>, emit: Emit, onClose: (f: () => void) => void) => Promise<unknown>;
  /** Keeps the request open and sends events. */
  streaming?: boolean;
}

const command = <S extends z.ZodType>(c: Command<S>) => c as unknown as { args: z.ZodType; run: Handler; streaming?: boolean };

const datagramEvent = (d: DatagramIn) => ({
  type: "datagram",
  from: formatAddress({ network: 0, node: d.from }),
  node_id: d.from,
  src_port: d.srcPort,
  port: d.dstPort,
  data: d.payload.toString("base64"),
  bytes: d.payload.length,
});

export const COMMANDS: Record<string, { args: z.ZodType; run: Handler; streaming?: boolean }> = {
  info: command({ args: z.strictObject({}), run: async (d) => d.info() }),

  "set-hostname": command({
    args: z.strictObject({ hostname: Hostname }),
    run: async (d, a) => {
      const self = await d.setHostname(a.hostname);
      return { hostname: self.hostname, node_id: self.node_id };
    },
  }),
  "clear-hostname": command({
    args: z.strictObject({}),
    run: async (d) => {
      const self = await d.setHostname(null);
      return { hostname: self.hostname, node_id: self.node_id };
    },
  }),
  "set-visibility": command({
    args: z.strictObject({ public: z.boolean() }),
    run: async (d, a) => {
      const self = await d.setVisibility(a.public);
      return { node_id: self.node_id, visibility: self.public ? "public" : "private" };
    },
  }),
  find: command({
    args: z.strictObject({ hostname: NodeName }),
    run: async (d, a) => {
      const n = await d.resolveName(a.hostname);
      return { hostname: n.hostname, node_id: n.node_id, address: n.address, public: n.public };
    },
  }),

  handshake: command({
    args: z.strictObject({ target: NodeName, justification: z.string().trim().min(1).max(MAX_JUSTIFICATION) }),
    run: async (d, a) => {
      const reply = await d.trust.request(a.target, a.justification);
      return { status: reply.status, node_id: reply.node_id ?? null };
    },
  }),
  pending: command({ args: z.strictObject({}), run: async (d) => ({ pending: await d.trust.pending() }) }),
  approve: command({
    args: z.strictObject({ node_id: NodeIdArg }),
    run: async (d, a) => {
      await d.trust.approve(a.node_id);
      return { status: "approved", node_id: a.node_id };
    },
  }),
  reject: command({
    args: z.strictObject({ node_id: NodeIdArg, reason: z.string().max(MAX_JUSTIFICATION).default("") }),
    run: async (d, a) => {
      await d.trust.reject(a.node_id, a.reason);
      return { status: "rejected", node_id: a.node_id };
    },
  }),
  trust: command({ args: z.strictObject({}), run: async (d) => ({ trusted: await d.trust.trusted() }) }),
  untrust: command({
    args: z.strictObject({ node_id: NodeIdArg }),
    run: async (d, a) => {
      await d.trust.untrust(a.node_id);
      return { node_id: a.node_id };
    },
  }),

  "join-network": command({
    args: z.strictObject({ network: z.union([NetworkIdArg, z.string().max(2048)]), token: z.string().max(256).optional() }),
    run: (d, a) => d.joinNetwork(a.network, a.token),
  }),
  "leave-network": command({
    args: z.strictObject({ network_id: NetworkIdArg }),
    run: async (d, a) => {
      await d.leaveNetwork(a.network_id);
      return { network_id: a.network_id };
    },
  }),
  networks: command({ args: z.strictObject({}), run: async (d) => ({ networks: await d.registry.networks() }) }),
  members: command({
    args: z.strictObject({ network_id: NetworkIdArg }),
    run: async (d, a) => ({ network_id: a.network_id, members: await d.registry.allMembers(a.network_id) }),
  }),
  invitations: command({ args: z.strictObject({}), run: async (d) => ({ invitations: await d.registry.invitations() }) }),
  "accept-invitation": command({
    args: z.strictObject({ network_id: NetworkIdArg }),
    run: (d, a) => d.acceptInvitation(a.network_id),
  }),
  "decline-invitation": command({
    args: z.strictObject({ network_id: NetworkIdArg }),
    run: async (d, a) => {
      await d.registry.declineInvitation(a.network_id);
      return { network_id: a.network_id };
    },
  }),

  send: command({
    args: z.strictObject({
      target: NodeName,
      port: Port,
      data: z.base64().max(Math.ceil(MAX_DATAGRAM / 3) * 4),
      src_port: Port.optional(),
    }),
    run: async (d, a) => {
      const nodeId = await d.nodeIdOf(a.target);
      const payload = Buffer.from(a.data, "base64");
      await d.datagrams.send(nodeId, a.port, payload, a.src_port);
      return { target: a.target, node_id: nodeId, port: a.port, bytes: payload.length };
    },
  }),
  ping: command({
    args: z.strictObject({ target: NodeName, count: z.number().int().min(1).max(100).default(4) }),
    run: async (d, a) => {
      const nodeId = await d.nodeIdOf(a.target);
      return { target: a.target, node_id: nodeId, results: await d.ping(nodeId, a.count) };
    },
  }),
  listen: command({
    args: z.strictObject({ port: Port }),
    streaming: true,
    run: async (d, a, emit, onClose) => {
      onClose(d.datagrams.listen(a.port, (dg) => emit(datagramEvent(dg))));
      return { port: a.port, listening: true };
    },
  }),
  bind: command({
    args: z.strictObject({ port: Port }),
    streaming: true,
    run: async (d, a, emit, onClose) => {
      const unbind = d.streams.listen(a.port, ({ conn, key }) => emit({ type: "connection", key, ...connectionInfo(conn) }));
      onClose(unbind);
      return { port: a.port, listening: true };
    },
  }),
  connections: command({ args: z.strictObject({}), run: async (d) => ({ connections: d.streams.list() }) }),
  subscribe: command({
    args: z.strictObject({}),
    streaming: true,
    run: async (d, _a, emit, onClose) => {
      const forward = (e: unknown) => emit(e);
      d.events.on("event", forward);
      onClose(() => d.events.off("event", forward));
      return { subscribed: true };
    },
  }),
};

export function unknownCommand(cmd: unknown): PilotError {
  return new PilotError("invalid_argument", `unknown command ${JSON.stringify(cmd)}`, "run pilotctl context for the list of commands");
}

/** What a program learns about a stream connection when it opens or is offered. */
export function connectionInfo(conn: Connection) {
  return { conn_id: conn.id, node_id: conn.peer, address: formatAddress({ network: 0, node: conn.peer }), port: conn.remotePort, local_port: conn.localPort };
}

/** Requests that open a stream connection; the reply is `connectionInfo`, then the stream. */
export const STREAM_OPENERS = {
  dial: {
    args: z.strictObject({ target: NodeName, port: Port }),
    open: async (d: PilotDaemon, a: { target: string; port: number }) => d.streams.dial(await d.nodeIdOf(a.target), a.port),
  },
  accept: {
    args: z.strictObject({ conn_id: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), key: z.string().regex(/^[0-9a-f]{32}$/) }),
    open: async (d: PilotDaemon, a: { conn_id: number; key: string }) => d.streams.claim(a.conn_id, a.key),
  },
};
