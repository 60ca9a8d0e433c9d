/**
 * pilotctl's data exchange commands: send-message and send-file to a peer's data exchange service
 * (port 1001), and inbox and received, which read what peers sent this node (in its Pilot home, so
 * they work with the daemon stopped too). Each returns its command's `data`; failures are
 * PilotErrors, a peer's ERR answer keeping the code it gave.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { PilotError } from "../errors.ts";
import { Pilot } from "../sdk/pilot.ts";
import { DATA_EXCHANGE_PORT, dataFrameDecoder, encodeDataFrame, encodeFile, FRAME_TYPE, MAX_FRAME, maxFileData, readAnswer, readFileName } from "../services/data-frames.ts";
import type { Entry } from "../store/capped-dir.ts";
import { homePaths } from "../store/home.ts";
import { Inbox, type InboxMessage } from "../store/inbox.ts";
import { ReceivedFiles } from "../store/received-files.ts";
import { gatherFrames } from "./service-client.ts";
import { deadline, dialBefore } from "./streams.ts";

export type MessageType = "text" | "json" | "binary";
export const MESSAGE_TYPES: readonly MessageType[] = ["text", "json", "binary"];

/** Where pilotctl's service commands look: a Pilot home (default: $PILOT_HOME, else ~/.pilot). */
export interface HomeOption {
  home?: string;
}


/** send-message: one message to the peer's inbox. Returns once the peer has saved it. */
export async function sendMessage(target: string, data: Buffer, type: MessageType, options: HomeOption & { seconds?: number } = {}) {
  if (type === "json") {
    try {
      JSON.parse(data.toString("utf8"));
    } catch {
      throw new PilotError("invalid_argument", "--data is not valid JSON, as --type json needs", 'quote it for the shell, e.g. --data \'{"task":"summarise"}\'');
    }
  }
  if (data.length > MAX_FRAME) throw new PilotError("too_large", `the message is ${data.length} bytes, over the ${MAX_FRAME}-byte limit of one frame`, "send it in parts");
  const ack = await deliver(target, encodeDataFrame(FRAME_TYPE[type], data), options);
  return { target, type, bytes: data.length, ack: ack.text };
}

/** send-file: one file (at most 16 MiB with its name) to the peer's received/. Returns once the peer has saved it. */
export async function sendFile(target: string, path: string, options: HomeOption & { seconds?: number } = {}) {
  const filename = basename(path);
  const name = readFileName(Buffer.from(filename));
  if ("problem" in name) throw new PilotError("invalid_argument", `${name.problem}: ${JSON.stringify(filename)}`, "rename the file to a plain name (no control characters, not starting with a dot)");
  const data = readWhole(path, maxFileData(filename));
  const ack = await deliver(target, encodeFile(filename, data), options);
  return { filename, bytes: data.length, destination: ack.destination, ack: ack.text };
}

/** Reads a regular file of at most `max` bytes, whole. */
function readWhole(path: string, max: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    throw new PilotError("not_found", `cannot read ${path}: ${(e as Error).message}`, "check the path (relative ones start from the current directory), then run pilotctl send-file again");
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new PilotError("invalid_argument", `${path} is not a regular file`, "send a file, not a directory or a device");
    if (stats.size > max) throw new PilotError("too_large", `${path} is ${stats.size} bytes; one frame holds at most ${max} bytes of a file by this name`, "send a smaller file, or split it");
    const data = Buffer.alloc(stats.size);
    for (let at = 0; at < data.length; ) {
      const n = readSync(fd, data, at, data.length - at, at);
      if (n === 0) throw new PilotError("internal", `${path} shrank while it was read`, "send it again once it is no longer being written");
      at += n;
    }
    return data;
  } finally {
    closeSync(fd);
  }
}

/** Sends one frame to the peer's data exchange and reads its answer: the ACK, or the ERR as a PilotError. */
async function deliver(target: string, frame: Buffer[], options: HomeOption & { seconds?: number }) {
  const seconds = options.seconds ?? 60;
  const pilot = await Pilot.connect(options.home);
  const { signal, clear } = deadline(seconds);
  const timeout = () => new PilotError("timeout", `no answer from ${target}'s data exchange within ${seconds} s`, "the node may be slow or unreachable; raise --timeout or try again");
  try {
    const conn = await dialBefore(pilot, target, DATA_EXCHANGE_PORT, signal, seconds);
    try {
      const answer = new Promise<string>((resolve, reject) => {
        gatherFrames(conn, dataFrameDecoder(), (_, payload) => resolve(payload.toString("utf8"))).then(
          () => reject(new PilotError("connection_reset", `${target}'s data exchange closed the connection without an answer`, "try again")),
          reject,
        );
        signal.addEventListener("abort", () => reject(timeout()), { once: true });
      });
      for (const piece of frame) conn.write(piece);
      const text = await answer;
      const refused = readAnswer(text);
      if (refused) throw new PilotError(refused.code, `${target} refused it: ${refused.message}`, HINTS[refused.code] ?? "see the message; the receiving node kept nothing of it");
      return { text, destination: conn.remote.address };
    } finally {
      conn.destroy();
    }
  } finally {
    clear();
    pilot.close();
  }
}

const HINTS: Record<string, string> = {
  inbox_full: "the receiving node's inbox is full: its owner must clear it (pilotctl inbox --clear) before it takes more",
  received_full: "the receiving node's received files are full: its owner must clear them (pilotctl received --clear) before it takes more",
  save_failed: "the receiving node could not save it; try again later",
};

/** inbox: the messages peers sent this node, oldest first; with `clear`, removes them instead. */
export function inbox(options: HomeOption & { clear?: boolean } = {}): { messages: InboxMessage[]; total: number; dir: string } | { cleared: number } {
  const box = new Inbox(homePaths(options.home).inbox);
  if (options.clear) return { cleared: box.clear() };
  const messages = box.read();
  return { messages, total: messages.length, dir: box.dir };
}

/** received: the files peers sent this node, oldest first; with `clear`, removes them instead. */
export function received(options: HomeOption & { clear?: boolean } = {}): { files: Entry[]; total: number; dir: string } | { cleared: number } {
  const files = new ReceivedFiles(homePaths(options.home).received);
  if (options.clear) return { cleared: files.clear() };
  const list = files.list();
  return { files: list, total: list.length, dir: files.dir };
}
