/**
 * The SDK for programs on an agent's machine: talk to the local daemon to send and receive
 * encrypted datagrams by Pilot address, node ID or hostname.
 *
 *   const pilot = await Pilot.connect();
 *   await pilot.listen(1001, (d) => console.log(d.from, d.data.toString()));
 *   await pilot.sendDatagram("agent-b", 1001, "hello");
 */
import { DaemonClient } from "./ipc/client.ts";
import { homePaths } from "./store/home.ts";

export interface Datagram {
  /** The sender's backbone address. */
  from: string;
  nodeId: number;
  srcPort: number;
  port: number;
  data: Buffer;
}

export class Pilot {
  readonly #client: DaemonClient;

  private constructor(client: DaemonClient) {
    this.#client = client;
  }

  /** Connects to the daemon of `home` (default: $PILOT_HOME, else ~/.pilot). */
  static async connect(home?: string): Promise<Pilot> {
    return new Pilot(await DaemonClient.connect(homePaths(home).socket));
  }

  info(): Promise<Record<string, unknown>> {
    return this.#client.call("info");
  }

  /** Sends one datagram to a port of a node named by node ID, Pilot address or hostname. */
  async sendDatagram(target: string | number, port: number, data: Uint8Array | string, srcPort?: number): Promise<void> {
    const bytes = Buffer.from(data);
    await this.#client.call("send", { target: String(target), port, data: bytes.toString("base64"), ...(srcPort ? { src_port: srcPort } : {}) });
  }

  /** Calls `onDatagram` for every datagram arriving on `port`, until this connection closes. */
  async listen(port: number, onDatagram: (d: Datagram) => void): Promise<void> {
    await this.#client.stream<{ from: string; node_id: number; src_port: number; port: number; data: string }>("listen", { port }, (e) =>
      onDatagram({ from: e.from, nodeId: e.node_id, srcPort: e.src_port, port: e.port, data: Buffer.from(e.data, "base64") }),
    );
  }

  close(): void {
    this.#client.close();
  }
}
