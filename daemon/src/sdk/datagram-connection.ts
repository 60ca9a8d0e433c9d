/**
 * The SDK's end of a datagram connection to the daemon (local-socket/datagram-frames.ts): sends go
 * out as frames, each answered under its ref, and with a port, the datagrams arriving on it come in.
 */
import type { Socket } from "node:net";
import { formatAddress } from "@pilot/protocol";
import { PilotError } from "../errors.ts";
import { DatagramSend, parseArgs } from "../local-socket/contract.ts";
import { BatchedWriter } from "../local-socket/batched-writes.ts";
import { DatagramFrameReader, sendFrame } from "../local-socket/datagram-frames.ts";
import { FrameError, pilotError } from "../local-socket/frames.ts";
import { closedError, DaemonClient } from "./daemon-client.ts";

export interface Datagram {
  /** The sender's backbone address. */
  from: string;
  nodeId: number;
  srcPort: number;
  port: number;
  data: Buffer;
}

const MAX_REF = 0xffffffff;

export class DatagramConnection {
  readonly #socket: Socket;
  /** Sends leave in batches: a write per datagram cost the program and the daemon a wakeup each. */
  readonly #out: BatchedWriter;
  readonly #waiting = new Map<number, { resolve: (nodeId: number) => void; reject: (e: PilotError) => void }>();
  #lastRef = 0;
  /** Why the connection ended; every send from then on fails with it. */
  #failure: PilotError | undefined;

  private constructor(socket: Socket, first: Buffer, onDatagram?: (d: Datagram) => void) {
    this.#socket = socket;
    this.#out = new BatchedWriter(socket);
    const daemonOnly = () => {
      throw new FrameError("the daemon sends no send frames");
    };
    const reader = new DatagramFrameReader({
      send: daemonOnly,
      sent: (ref, nodeId) => this.#settle(ref)?.resolve(nodeId),
      error: (ref, e) => (ref === 0 ? this.#fail(pilotError(e)) : this.#settle(ref)?.reject(pilotError(e))),
      datagram: (d) => onDatagram?.({ from: formatAddress({ network: 0, node: d.from }), nodeId: d.from, srcPort: d.srcPort, port: d.dstPort, data: d.payload }),
    });
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (e) {
        this.#fail(new PilotError("internal", `the daemon's datagram frames were unreadable: ${(e as Error).message}`, "check that the daemon and SDK versions match"));
        socket.destroy();
      }
    };
    socket.on("data", onData);
    socket.on("close", () => this.#fail(closedError()));
    socket.on("error", () => undefined);
    if (first.length) onData(first);
    socket.resume();
  }

  /** Opens a datagram connection; with a port, `onDatagram` gets every datagram arriving on it. */
  static async open(socketPath: string, port?: number, onDatagram?: (d: Datagram) => void): Promise<DatagramConnection> {
    const { socket, first } = await DaemonClient.open(socketPath, "datagrams", port === undefined ? {} : { port });
    return new DatagramConnection(socket, first, onDatagram);
  }

  /** Sends one datagram; resolves with the node ID the target named once the daemon has sent it. */
  send(target: string, port: number, data: Buffer, srcPort?: number): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    let datagram: DatagramSend;
    try {
      datagram = parseArgs("send-datagram", DatagramSend, { target, port, src_port: srcPort || undefined, data });
    } catch (e) {
      return Promise.reject(e as PilotError);
    }
    const ref = (this.#lastRef = (this.#lastRef % MAX_REF) + 1);
    return new Promise((resolve, reject) => {
      this.#waiting.set(ref, { resolve, reject });
      this.#out.write(sendFrame({ ref, target: datagram.target, port: datagram.port, srcPort: datagram.src_port ?? 0, payload: datagram.data }));
    });
  }

  #settle(ref: number) {
    const waiter = this.#waiting.get(ref);
    this.#waiting.delete(ref);
    return waiter;
  }

  #fail(e: PilotError): void {
    this.#failure ??= e;
    for (const w of this.#waiting.values()) w.reject(this.#failure);
    this.#waiting.clear();
  }

  /** Whether the connection has ended (closed, or the daemon went away): its sends fail. */
  get ended(): boolean {
    return this.#failure !== undefined;
  }

  close(): void {
    this.#socket.end();
  }
}
