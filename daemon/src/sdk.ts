/**
 * The SDK for programs on an agent's machine: reliable streams and datagrams to other agents,
 * by Pilot address, node ID or hostname, through the local daemon.
 *
 *   const pilot = await Pilot.connect();
 *   const conn = await pilot.dial("agent-b", 1000);        // a Node Duplex
 *   conn.end("hello");
 *   for await (const chunk of conn) process.stdout.write(chunk);
 *
 *   const server = await pilot.listen(1000, (conn) => conn.pipe(conn));   // an echo service
 *   await pilot.receiveDatagrams(1001, (d) => console.log(d.from, d.data.toString()));
 *   await pilot.sendDatagram("agent-b", 1001, "hello");
 *   await pilot.events((e) => { if (e.type === "invitation_received") console.log("invited to", e.name); });
 */
import { EventEmitter } from "node:events";
import type { ConnectionListing } from "./dataplane/stream/streams.ts";
import { DaemonClient } from "./ipc/client.ts";
import { PilotConnection, type ConnectionInfo } from "./ipc/pilot-connection.ts";
import type { NodeEvent, PushEvent } from "@pilot/protocol";
import { homePaths } from "./store/home.ts";

export { PilotConnection };

export interface Datagram {
  /** The sender's backbone address. */
  from: string;
  nodeId: number;
  srcPort: number;
  port: number;
  data: Buffer;
}

/** Connections accepted on a port; emits "connection" with each PilotConnection. */
export class PilotServer extends EventEmitter<{ connection: [PilotConnection] }> {
  readonly port: number;
  readonly #client: DaemonClient;

  constructor(client: DaemonClient, port: number) {
    super();
    this.#client = client;
    this.port = port;
  }

  /** Stops listening; connections already accepted carry on. */
  close(): void {
    this.#client.close();
  }
}

type WithoutSeq<E> = E extends unknown ? Omit<E, "seq"> : never;

/**
 * What the daemon tells its programs: trust and handshake events and this node's memberships and
 * invitations (from its own channel), its networks' membership changes and presence (from each
 * network's channel), and peers it cut off.
 */
export type DaemonEvent =
  | WithoutSeq<Exclude<NodeEvent, { type: "hello" }>>
  | Exclude<PushEvent, { type: "hello" }>
  | { type: "peer_cut_off"; node_id: number; reason: string }
  /** A network's channel is in sync: its members may reach this node, and it them. */
  | { type: "network_synced"; network_id: number; members: number };

export class Pilot {
  readonly #client: DaemonClient;
  readonly #socketPath: string;

  private constructor(client: DaemonClient, socketPath: string) {
    this.#client = client;
    this.#socketPath = socketPath;
  }

  /** Connects to the daemon of `home` (default: $PILOT_HOME, else ~/.pilot). */
  static async connect(home?: string): Promise<Pilot> {
    const socketPath = homePaths(home).socket;
    return new Pilot(await DaemonClient.connect(socketPath), socketPath);
  }

  info(): Promise<Record<string, unknown>> {
    return this.#client.call("info");
  }

  /** Opens a reliable stream to a port on a node; resolves once the peer has accepted. */
  dial(target: string | number, port: number): Promise<PilotConnection> {
    return this.#open("dial", { target: String(target), port });
  }

  async #open(cmd: "dial" | "accept", args: Record<string, unknown>): Promise<PilotConnection> {
    const { socket, data, first } = await DaemonClient.openStream(this.#socketPath, cmd, args);
    return new PilotConnection(socket, data as unknown as ConnectionInfo, first);
  }

  /** Accepts streams on `port` (only from peers this node allows) until the server is closed. */
  async listen(port: number, onConnection?: (conn: PilotConnection) => void): Promise<PilotServer> {
    const client = await DaemonClient.connect(this.#socketPath);
    const server = new PilotServer(client, port);
    if (onConnection) server.on("connection", onConnection);
    try {
      await client.stream<{ conn_id: number; key: string }>("bind", { port }, (offer) => {
        this.#open("accept", { conn_id: offer.conn_id, key: offer.key }).then(
          (conn) => server.emit("connection", conn),
          // The peer gave up before we picked the connection up: nothing to hand over.
          () => undefined,
        );
      });
    } catch (e) {
      client.close();
      throw e;
    }
    return server;
  }

  /** The daemon's stream connections, with their state and counters (as `pilotctl connections`). */
  async connections(): Promise<ConnectionListing[]> {
    return (await this.#client.call<{ connections: ConnectionListing[] }>("connections")).connections;
  }

  /** Sends one datagram to a port of a node named by node ID, Pilot address or hostname. */
  async sendDatagram(target: string | number, port: number, data: Uint8Array | string, srcPort?: number): Promise<void> {
    const bytes = Buffer.from(data);
    await this.#client.call("send", { target: String(target), port, data: bytes.toString("base64"), ...(srcPort ? { src_port: srcPort } : {}) });
  }

  /** Calls `onDatagram` for every datagram arriving on `port`, until this connection closes. */
  async receiveDatagrams(port: number, onDatagram: (d: Datagram) => void): Promise<void> {
    await this.#client.stream<{ from: string; node_id: number; src_port: number; port: number; data: string }>("listen", { port }, (e) =>
      onDatagram({ from: e.from, nodeId: e.node_id, srcPort: e.src_port, port: e.port, data: Buffer.from(e.data, "base64") }),
    );
  }

  /** Calls `onEvent` for every daemon event from now on, until this connection closes. */
  async events(onEvent: (e: DaemonEvent) => void): Promise<void> {
    await this.#client.stream<DaemonEvent>("subscribe", {}, onEvent);
  }

  close(): void {
    this.#client.close();
  }
}
