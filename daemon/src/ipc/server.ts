/**
 * The daemon's local socket: a Unix socket with mode 0600 under PILOT_HOME. Requests are frames
 * `{"id", "cmd", "args"}`; replies are `{"id", "ok": true, "data"}` or `{"id", "ok": false, "error":
 * {"code", "message", "hint"}}`; streaming commands add `{"id", "event"}` frames. A garbage or
 * oversized frame gets an error reply and the connection is closed; the daemon carries on.
 *
 * `dial` and `accept` open a stream connection: sent as the first request on a connection of its
 * own, the reply is followed by stream frames both ways (stream-frames.ts) until the stream ends.
 */
import { chmodSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { z } from "zod";
import type { PilotDaemon } from "../agent/pilot-daemon.ts";
import { PilotError } from "../errors.ts";
import { COMMANDS, connectionInfo, STREAM_OPENERS, unknownCommand } from "./commands.ts";
import { encodeFrame, FrameError, FrameReader } from "./frames.ts";
import { pipeConnection } from "./stream-pipe.ts";

const Request = z.strictObject({ id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), cmd: z.string().max(64), args: z.record(z.string(), z.unknown()).default({}) });

function errorBody(e: unknown): { code: string; message: string; hint: string } {
  if (e instanceof PilotError) return { code: e.code, message: e.message, hint: e.hint };
  return { code: "internal", message: e instanceof Error ? e.message : String(e), hint: "see the daemon's log (pilot.log)" };
}

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

export async function startIpcServer(daemon: PilotDaemon, path: string, onStop: () => void): Promise<Server> {
  if (await socketInUse(path)) {
    throw new PilotError("already_running", `a daemon already listens on ${path}`, "stop it with pilotctl daemon stop, or use another PILOT_HOME");
  }
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
      server.once("error", reject);
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
  const send = (frame: unknown) => {
    if (!socket.destroyed) socket.write(encodeFrame(frame));
  };
  let requests = 0;
  socket.on("close", () => closers.splice(0).forEach((f) => f()));
  socket.on("error", () => undefined);
  const onData = (chunk: Buffer) => {
    reader.append(chunk);
    for (;;) {
      let frame: unknown;
      try {
        frame = reader.next();
      } catch (e) {
        send({ id: null, ok: false, error: { code: "invalid_frame", message: e instanceof FrameError ? e.message : "bad frame", hint: "frames are a 4-byte big-endian length and JSON, at most 1 MiB" } });
        socket.end();
        return;
      }
      if (frame === undefined) return;
      const opener = requests++ === 0 && isStreamOpener(frame);
      if (opener) {
        // The rest of this connection is the stream's.
        socket.off("data", onData);
        socket.pause();
        void openStream(frame, reader.rest());
        return;
      }
      void handle(frame);
    }
  };
  socket.on("data", onData);

  function parse(frame: unknown) {
    const request = Request.safeParse(frame);
    if (!request.success) {
      send({ id: null, ok: false, error: { code: "invalid_request", message: "a request is {id, cmd, args}", hint: "see the SDK in pilot-daemon" } });
      return null;
    }
    return request.data;
  }

  function invalidArgs(id: number, cmd: string, error: z.ZodError): void {
    const issue = error.issues[0];
    send({ id, ok: false, error: { code: "invalid_argument", message: `${cmd}: ${issue?.path.join(".") || "arguments"}: ${issue?.message}`, hint: `run pilotctl context to see what ${cmd} takes` } });
  }

  async function openStream(frame: unknown, first: Buffer): Promise<void> {
    const request = parse(frame);
    const opener = request && STREAM_OPENERS[request.cmd as keyof typeof STREAM_OPENERS];
    const parsed = opener?.args.safeParse(request!.args);
    if (!request || !opener || !parsed?.success) {
      if (request && parsed && !parsed.success) invalidArgs(request.id, request.cmd, parsed.error);
      socket.end();
      return;
    }
    try {
      const conn = await opener.open(daemon, parsed.data as never);
      send({ id: request.id, ok: true, data: connectionInfo(conn) });
      pipeConnection(conn, socket, first);
    } catch (e) {
      send({ id: request.id, ok: false, error: errorBody(e) });
      socket.end();
    }
  }

  async function handle(frame: unknown): Promise<void> {
    const request = parse(frame);
    if (!request) return;
    const { id, cmd, args } = request;
    if (Object.hasOwn(STREAM_OPENERS, cmd)) {
      return send({ id, ok: false, error: { code: "invalid_request", message: `${cmd} must be the first request on a connection of its own`, hint: "open a new connection to the socket for each stream (the SDK does)" } });
    }
    if (cmd === "stop") {
      send({ id, ok: true, data: { stopping: true, pid: process.pid } });
      onStop();
      return;
    }
    const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!command) return send({ id, ok: false, error: errorBody(unknownCommand(cmd)) });
    const parsed = command.args.safeParse(args);
    if (!parsed.success) return invalidArgs(id, cmd, parsed.error);
    try {
      const data = await command.run(daemon, parsed.data as never, (event) => send({ id, event }), (f) => closers.push(f));
      send({ id, ok: true, data });
    } catch (e) {
      send({ id, ok: false, error: errorBody(e) });
    }
  }
}

function isStreamOpener(frame: unknown): boolean {
  const cmd = (frame as { cmd?: unknown } | null)?.cmd;
  return typeof cmd === "string" && Object.hasOwn(STREAM_OPENERS, cmd);
}
