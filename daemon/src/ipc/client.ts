/**
 * The SDK's connection to a daemon over its local socket: request/response calls and streams.
 * pilotctl uses it, and so can any program on the machine.
 */
import { connect, type Socket } from "node:net";
import { PilotError } from "../errors.ts";
import { homePaths } from "../store/home.ts";
import { encodeFrame, FrameReader } from "./frames.ts";

interface Reply {
  id: number | null;
  ok?: boolean;
  data?: unknown;
  error?: { code: string; message: string; hint: string };
  event?: unknown;
}

export class DaemonClient {
  readonly #socket: Socket;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; onEvent?: (e: unknown) => void }>();
  #next = 1;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const reader = new FrameReader();
    socket.on("data", (chunk: Buffer) => {
      for (const frame of reader.push(chunk) as Reply[]) this.#dispatch(frame);
    });
    socket.on("close", () => {
      for (const w of this.#waiting.values()) w.reject(new PilotError("not_running", "the daemon closed the connection", "check pilotctl daemon status"));
      this.#waiting.clear();
    });
  }

  /** Connects to the daemon of PILOT_HOME (or the given socket path). */
  static async connect(socketPath = homePaths().socket): Promise<DaemonClient> {
    return new DaemonClient(await connectSocket(socketPath));
  }

  /**
   * Opens a stream connection (dial or accept) on a socket of its own: returns the socket, the
   * reply's data, and any stream bytes that came with the reply.
   */
  static async openStream(socketPath: string, cmd: "dial" | "accept", args: Record<string, unknown>): Promise<{ socket: Socket; data: Record<string, unknown>; first: Buffer }> {
    const socket = await connectSocket(socketPath);
    const reader = new FrameReader();
    socket.write(encodeFrame({ id: 1, cmd, args }));
    return new Promise((resolve, reject) => {
      const fail = (e: PilotError) => {
        socket.destroy();
        reject(e);
      };
      const onClose = () => fail(new PilotError("not_running", "the daemon closed the connection", "check pilotctl daemon status"));
      const onData = (chunk: Buffer) => {
        reader.append(chunk);
        let reply: Reply | undefined;
        try {
          reply = reader.next() as Reply | undefined;
        } catch (e) {
          return fail(new PilotError("internal", `the daemon's reply was unreadable: ${(e as Error).message}`, "check that the daemon and SDK versions match"));
        }
        if (reply === undefined) return;
        socket.off("data", onData);
        socket.off("close", onClose);
        socket.pause();
        if (reply.ok) resolve({ socket, data: reply.data as Record<string, unknown>, first: reader.rest() });
        else fail(new PilotError(reply.error?.code ?? "internal", reply.error?.message ?? "request failed", reply.error?.hint ?? ""));
      };
      socket.on("data", onData);
      socket.once("close", onClose);
    });
  }

  #dispatch(frame: Reply): void {
    const waiter = frame.id === null ? undefined : this.#waiting.get(frame.id);
    if (!waiter) return;
    if (frame.event !== undefined) return waiter.onEvent?.(frame.event);
    if (!waiter.onEvent) this.#waiting.delete(frame.id!);
    if (frame.ok) waiter.resolve(frame.data);
    else waiter.reject(new PilotError(frame.error?.code ?? "internal", frame.error?.message ?? "request failed", frame.error?.hint ?? ""));
  }

  /** One request, one reply. */
  call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#socket.write(encodeFrame({ id, cmd, args }));
    });
  }

  /** A streaming request: `onEvent` gets each event until the connection is closed. */
  stream<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown>, onEvent: (event: T) => void): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, onEvent: onEvent as (e: unknown) => void });
      this.#socket.write(encodeFrame({ id, cmd, args }));
    });
  }

  close(): void {
    this.#socket.end();
  }
}

async function connectSocket(socketPath: string): Promise<Socket> {
  const socket = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", () => reject(new PilotError("not_running", `no daemon answers on ${socketPath}`, "start one with: pilotctl daemon start")));
  });
  return socket;
}
