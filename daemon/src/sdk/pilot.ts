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
import type { ConnectionListing } from "../dataplane/stream/streams.ts";
import type { ArgsIn, ArgsParam, CallName, DaemonEvent, Result } from "../local-socket/contract.ts";
import { PilotError } from "../errors.ts";
import { homePaths } from "../store/home.ts";
import { DaemonClient } from "./daemon-client.ts";
import { DatagramConnection, type Datagram } from "./datagram-connection.ts";
import { PilotConnection } from "./pilot-connection.ts";

export { PilotConnection, type DaemonEvent, type Datagram };

/** A datagram the daemon sent: the node its target named, and how many bytes it carried. */
export interface DatagramSent {
  nodeId: number;
  bytes: number;
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

export class Pilot {
  readonly #client: DaemonClient;
  readonly #socketPath: string;
  /** The datagram connections this Pilot opened, which close with it. */
  readonly #datagrams = new Set<DatagramConnection>();
  /** The one all sends share, opened with the first. */
  #sending: Promise<DatagramConnection> | undefined;
  #closed = false;

  private constructor(client: DaemonClient, socketPath: string) {
    this.#client = client;
    this.#socketPath = socketPath;
  }

  /** Connects to the daemon of `home` (default: $PILOT_HOME, else ~/.pilot). */
  static async connect(home?: string): Promise<Pilot> {
    const socketPath = homePaths(home).socket;
    return new Pilot(await DaemonClient.connect(socketPath), socketPath);
  }

  /** Any command with one reply, as the local socket's contract (local-socket/contract.ts) types it. */
  call<K extends CallName>(cmd: K, ...args: ArgsParam<K>): Promise<Result<K>> {
    return this.#client.call(cmd, ...args);
  }

  /** The node and its daemon (as `pilotctl info`). */
  info(): Promise<Result<"info">> {
    return this.#client.call("info");
  }

  /** Opens a reliable stream to a port on a node; resolves once the peer has accepted. */
  dial(target: string | number, port: number): Promise<PilotConnection> {
    return this.#open("dial", { target: String(target), port });
  }

  async #open<K extends "dial" | "accept">(cmd: K, args: ArgsIn<K>): Promise<PilotConnection> {
    const { socket, data, first } = await DaemonClient.open(this.#socketPath, cmd, args);
    return new PilotConnection(socket, data, first);
  }

  /** Accepts streams on `port` (only from peers this node allows) until the server is closed. */
  async listen(port: number, onConnection?: (conn: PilotConnection) => void): Promise<PilotServer> {
    const client = await DaemonClient.connect(this.#socketPath);
    const server = new PilotServer(client, port);
    if (onConnection) server.on("connection", onConnection);
    try {
      await client.watch("bind", { port }, (offer) => {
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
    return (await this.#client.call("connections")).connections;
  }

  /** Sends one datagram to a port of a node named by node ID, Pilot address or hostname. */
  async sendDatagram(target: string | number, port: number, data: Uint8Array | string, srcPort?: number): Promise<DatagramSent> {
    if (this.#closed) throw new PilotError("not_running", "this Pilot is closed", "connect again with Pilot.connect()");
    const payload = Buffer.from(data);
    const nodeId = await (await this.#sender()).send(String(target), port, payload, srcPort);
    return { nodeId, bytes: payload.length };
  }

  /**
   * The connection all sends share: opened with the first send, and opened again when the last one
   * failed to open or has ended (the daemon restarted, say), so one bad moment does not fail every
   * later send.
   */
  async #sender(): Promise<DatagramConnection> {
    const current = this.#sending;
    const usable = current !== undefined && (await current.then((c) => !c.ended, () => false));
    // Another send may have replaced it meanwhile; only the one that saw it fail replaces it.
    if (!usable && this.#sending === current) this.#sending = this.#openDatagrams();
    return this.#sending!;
  }

  /** Calls `onDatagram` for every datagram arriving on `port`, until this Pilot is closed; resolves once the port is bound. */
  async receiveDatagrams(port: number, onDatagram: (d: Datagram) => void): Promise<void> {
    await this.#openDatagrams(port, onDatagram);
  }

  async #openDatagrams(port?: number, onDatagram?: (d: Datagram) => void): Promise<DatagramConnection> {
    const connection = await DatagramConnection.open(this.#socketPath, port, onDatagram);
    // Closed while it was opening: it closes at once, and its sends fail.
    if (this.#closed) connection.close();
    else this.#datagrams.add(connection);
    return connection;
  }

  /** Calls `onEvent` for every daemon event from now on, until this connection closes. */
  async events(onEvent: (e: DaemonEvent) => void): Promise<void> {
    await this.#client.watch("subscribe", {}, onEvent);
  }

  close(): void {
    this.#closed = true;
    this.#client.close();
    for (const connection of this.#datagrams) connection.close();
  }
}
