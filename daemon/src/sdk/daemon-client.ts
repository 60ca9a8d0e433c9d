/**
 * The SDK's connection to a daemon over its local socket: calls typed by the contract
 * (local-socket/contract.ts), commands with events, and the connections of their own that stream
 * and datagram connections open. Pilot (pilot.ts) is built on it.
 */
import { connect, type Socket } from "node:net";
import { PilotError } from "../errors.ts";
import type { ArgsIn, ArgsParam, CallName, Event, OpenerName, Result, WatchName } from "../local-socket/contract.ts";
import { encodeFrame, FrameReader, pilotError, type ReplyFrame } from "../local-socket/frames.ts";
import { checkSocketPath, homePaths } from "../store/home.ts";

interface Waiter {
  resolve: (data: unknown) => void;
  reject: (e: Error) => void;
  onEvent?: (event: unknown) => void;
}

export const closedError = () => new PilotError("not_running", "the daemon closed the connection", "check pilotctl daemon status");

export class DaemonClient {
  readonly #socket: Socket;
  readonly #waiting = new Map<number, Waiter>();
  #next = 1;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of reader.push(chunk) as ReplyFrame[]) this.#dispatch(frame);
    });
    socket.on("close", () => {
      for (const w of this.#waiting.values()) w.reject(closedError());
      this.#waiting.clear();
    });
  }

  /** Connects to the daemon of PILOT_HOME (or the given socket path). */
  static async connect(socketPath = homePaths().socket): Promise<DaemonClient> {
    return new DaemonClient(await connectSocket(socketPath));
  }

  /**
   * Opens a stream or datagram connection on a socket of its own: returns the socket, the reply's
   * data, and any binary frames that came with the reply.
   */
  static async open<K extends OpenerName>(socketPath: string, cmd: K, args: ArgsIn<K>): Promise<{ socket: Socket; data: Result<K>; first: Buffer }> {
    const socket = await connectSocket(socketPath);
    const reader = new FrameReader();
    socket.write(encodeFrame({ id: 1, cmd, args }));
    return new Promise((resolve, reject) => {
      const fail = (e: PilotError) => {
        socket.destroy();
        reject(e);
      };
      const onClose = () => fail(closedError());
      const onData = (chunk: Buffer) => {
        reader.append(chunk);
        let reply: ReplyFrame | undefined;
        try {
          reply = reader.next() as ReplyFrame | undefined;
        } catch (e) {
          return fail(new PilotError("internal", `the daemon's reply was unreadable: ${(e as Error).message}`, "check that the daemon and SDK versions match"));
        }
        if (reply === undefined) return;
        socket.off("data", onData);
        socket.off("close", onClose);
        socket.pause();
        if ("ok" in reply && reply.ok) resolve({ socket, data: reply.data as Result<K>, first: reader.rest() });
        else fail("error" in reply ? pilotError(reply.error) : new PilotError("internal", "the daemon's reply was unreadable", "check that the daemon and SDK versions match"));
      };
      socket.on("data", onData);
      socket.once("close", onClose);
    });
  }

  #dispatch(frame: ReplyFrame): void {
    const waiter = frame.id === null ? undefined : this.#waiting.get(frame.id);
    if (!waiter) return;
    if ("event" in frame) return waiter.onEvent?.(frame.event);
    if (!waiter.onEvent) this.#waiting.delete(frame.id!);
    if (frame.ok) waiter.resolve(frame.data);
    else waiter.reject(pilotError(frame.error));
  }

  #request(cmd: string, args: object | undefined, waiter: Waiter): void {
    const id = this.#next++;
    this.#waiting.set(id, waiter);
    this.#socket.write(encodeFrame({ id, cmd, args: args ?? {} }));
  }

  /** One request, one reply. */
  call<K extends CallName>(cmd: K, ...[args]: ArgsParam<K>): Promise<Result<K>> {
    return new Promise((resolve, reject) => this.#request(cmd, args, { resolve: resolve as (data: unknown) => void, reject }));
  }

  /** A command with events: resolves with its reply, and `onEvent` gets each event until the connection is closed. */
  watch<K extends WatchName>(cmd: K, args: ArgsIn<K>, onEvent: (event: Event<K>) => void): Promise<Result<K>> {
    return new Promise((resolve, reject) => this.#request(cmd, args, { resolve: resolve as (data: unknown) => void, reject, onEvent: onEvent as (event: unknown) => void }));
  }

  close(): void {
    this.#socket.end();
  }
}

async function connectSocket(socketPath: string): Promise<Socket> {
  checkSocketPath(socketPath);
  const socket = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", () => reject(new PilotError("not_running", `no daemon answers on ${socketPath}`, "start one with: pilotctl daemon start")));
  });
  return socket;
}
