/**
 * The daemon's end of the local socket: a Unix socket with mode 0600 under PILOT_HOME, speaking the
 * framing of local-socket/frames.ts and the commands of local-socket/contract.ts. Anyone who can
 * reach the socket may send anything, so every frame is checked: a garbage or oversized frame gets
 * an `invalid_frame` error and the connection is closed, a request that is not `{id, cmd, args}` an
 * `invalid_request`, an unknown command or bad arguments an `invalid_argument`; none of them
 * changes anything, and the daemon carries on. A program that does not read what it is sent holds the
 * daemon to MAX_UNREAD bytes (limits.ts).
 *
 * A command that opens a stream or datagram connection must be the first request on a connection
 * of its own; after its reply, the connection is the opened one's (commands.ts).
 */
import { chmodSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { z } from "zod";
import type { PilotDaemon } from "../agent/pilot-daemon.ts";
import { PilotError } from "../errors.ts";
import { COMMANDS, isOpener, parseArgs, type CallName, type OpenerName, type WatchName } from "../local-socket/contract.ts";
import { encodeFrame, FrameError, FrameReader, type ReplyFrame } from "../local-socket/frames.ts";
import { HANDLERS, OPENERS, type HandlerContext, type Opened } from "./commands.ts";
import { errorBody } from "./errors.ts";
import { checkSocketPath } from "../store/home.ts";
import { MAX_REQUESTS_IN_FLIGHT, MAX_UNREAD } from "./limits.ts";

const Request = z.strictObject({ id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), cmd: z.string().max(64), args: z.record(z.string(), z.unknown()).default({}) });
type Request = z.infer<typeof Request>;

/** Handlers with their command's types erased, for dispatch by name once the arguments have been checked. */
type AnyHandler = (d: PilotDaemon, args: unknown, ctx: HandlerContext<CallName | WatchName>) => Promise<unknown>;
type AnyOpener = (d: PilotDaemon, args: unknown) => Promise<Opened<OpenerName>>;

/** Whether a daemon already answers on this socket. */
async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/**
 * Refuses to go on while another daemon answers on this socket: called before a starting daemon
 * touches anything in its home (config, a pending key rotation, registration), which belong to the
 * running one.
 */
export async function checkNoDaemon(path: string): Promise<void> {
  checkSocketPath(path);
  if (await socketInUse(path)) {
    throw new PilotError("already_running", `a daemon already listens on ${path}`, "stop it with pilotctl daemon stop, or use another PILOT_HOME");
  }
}

export async function startIpcServer(daemon: PilotDaemon, path: string, onStop: () => void): Promise<Server> {
  // Again: another daemon may have started since checkNoDaemon.
  await checkNoDaemon(path);
  try {
    unlinkSync(path);
  } catch {
    // No stale socket.
  }
  const server = createServer((socket) => serve(daemon, socket, onStop));
  // The socket is made 0600 from the start (the umask), not only after the chmod that follows it.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e) =>
        reject(new PilotError("invalid_argument", `cannot make the local socket ${path}: ${e.message}`, "point PILOT_SOCKET at a path in a directory of your own, or unset it")),
      );
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
  return server;
}

function serve(daemon: PilotDaemon, socket: Socket, onStop: () => void): void {
  const reader = new FrameReader();
  const closers: (() => void)[] = [];
  let underWay = 0;
  /** Whether to read no more requests: too many are under way, or the program is not reading its replies. */
  const holding = () => underWay >= MAX_REQUESTS_IN_FLIGHT || socket.writableLength > MAX_UNREAD;
  const send = (frame: ReplyFrame) => {
    if (socket.destroyed) return;
    socket.write(encodeFrame(frame));
    // Whatever else holds the connection back, the next drain (see below) reads on.
    if (socket.writableLength > MAX_UNREAD) socket.pause();
  };
  /** Reads on once nothing holds the connection back, starting with the requests already received. */
  const release = () => {
    if (!socket.isPaused() || holding()) return;
    socket.resume();
    readRequests();
  };
  const closeAll = () => closers.splice(0).forEach((f) => f());
  let requests = 0;
  socket.on("close", closeAll);
  socket.on("error", () => undefined);
  socket.on("drain", release);
  const onData = (chunk: Buffer) => {
    reader.append(chunk);
    readRequests();
  };
  function readRequests(): void {
    // Requests already received wait in the reader while the connection is held back.
    while (!holding()) {
      let frame: unknown;
      try {
        frame = reader.next();
      } catch (e) {
        send({ id: null, ok: false, error: { code: "invalid_frame", message: e instanceof FrameError ? e.message : "bad frame", hint: "frames are a 4-byte big-endian length and JSON, at most 1 MiB" } });
        socket.end();
        return;
      }
      if (frame === undefined) return;
      const first = requests++ === 0;
      const request = parse(frame);
      if (!request) continue;
      if (first && isOpener(request.cmd)) {
        // The rest of this connection is the opened one's.
        socket.off("data", onData);
        socket.off("drain", release);
        socket.pause();
        void open(request, request.cmd, reader.rest());
        return;
      }
      underWay++;
      void handle(request).finally(() => {
        underWay--;
        release();
      });
      if (holding()) socket.pause();
    }
  }
  socket.on("data", onData);

  function parse(frame: unknown): Request | null {
    const request = Request.safeParse(frame);
    if (request.success) return request.data;
    send({ id: null, ok: false, error: { code: "invalid_request", message: "a request is {id, cmd, args}", hint: "see the SDK in pilot-daemon" } });
    return null;
  }

  async function open({ id, args }: Request, cmd: OpenerName, first: Buffer): Promise<void> {
    try {
      const opened = await (OPENERS[cmd] as AnyOpener)(daemon, parseArgs(cmd, COMMANDS[cmd].args, args));
      send({ id, ok: true, data: opened.data });
      opened.attach(socket, first);
    } catch (e) {
      send({ id, ok: false, error: errorBody(e) });
      socket.end();
    }
  }

  async function handle({ id, cmd, args }: Request): Promise<void> {
    if (isOpener(cmd)) {
      return send({ id, ok: false, error: { code: "invalid_request", message: `${cmd} must be the first request on a connection of its own`, hint: "open a new connection to the socket for each stream or datagram connection (the SDK does)" } });
    }
    if (!Object.hasOwn(HANDLERS, cmd)) {
      return send({ id, ok: false, error: { code: "invalid_argument", message: `unknown command ${JSON.stringify(cmd)}`, hint: "run pilotctl context for the list of commands" } });
    }
    const name = cmd as CallName | WatchName;
    let stopping = false;
    const ctx: HandlerContext<CallName | WatchName> = {
      emit: (event) => {
        if (socket.writableLength <= MAX_UNREAD) return send({ id, event });
        // Events are not held back for a program that does not read them: it would miss them unknowingly.
        if (!socket.writable) return;
        closeAll();
        send({ id: null, ok: false, error: { code: "too_slow", message: `more than ${MAX_UNREAD} bytes of events were left unread`, hint: "read the connection's events as they come; open it again for the ones from now on" } });
        socket.end();
      },
      onClose: (f) => closers.push(f),
      stop: () => (stopping = true),
    };
    try {
      const data = await (HANDLERS[name] as AnyHandler)(daemon, parseArgs(name, COMMANDS[name].args, args), ctx);
      send({ id, ok: true, data });
    } catch (e) {
      send({ id, ok: false, error: errorBody(e) });
    }
    // In a turn of its own, not inside this promise job: the daemon's last packets (the RSTs of its
    // connections) go out through process.nextTick, which would otherwise run only after it exits.
    if (stopping) setImmediate(onStop);
  }
}
