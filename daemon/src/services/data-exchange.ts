/**
 * The data exchange service (port 1001): typed frames from peers (data-frames.ts). Text, JSON and
 * binary messages are saved to the inbox and files to received/ (store/inbox.ts,
 * store/received-files.ts); each frame is answered, in order, `ACK <TYPE> <n> bytes` once it is
 * saved, or `ERR <code>: <message>` with nothing saved. A frame refused for what it holds (an
 * unknown type, a JSON message that is not JSON, a bad file name, a full inbox) leaves the
 * connection open for the next; a length over the limit cannot be framed past, so the answer to it
 * is the last, and the service reads nothing more.
 *
 * Memory: a message is gathered whole, in room set aside from the daemon's frame budget
 * (frame-budget.ts) when its header arrives; a file goes to disk as it comes. A peer that does not
 * read its answers is read no further once it is ANSWER_BACKLOG behind.
 */
import { formatAddress } from "@pilot/protocol";
import { PilotError } from "../errors.ts";
import type { Draft } from "../store/capped-dir.ts";
import type { Inbox, InboxMessage } from "../store/inbox.ts";
import type { ReceivedFiles } from "../store/received-files.ts";
import { ackText, dataFrameDecoder, encodeDataFrame, errText, FileHeaderReader, FRAME_TYPE, readFileName, typeLabel, type DataHead } from "./data-frames.ts";
import type { FrameEvent } from "./frame-decoder.ts";
import type { FrameBudget } from "./frame-budget.ts";
import { FramedSession } from "./framed-session.ts";
import type { ServiceSession, ServiceStream } from "./hosting.ts";

/** How far behind in reading our answers a peer may be before its frames are read no further. */
export const ANSWER_BACKLOG = 64 << 10;

export interface DataExchangeOptions {
  inbox: Inbox;
  received: ReceivedFiles;
  budget: FrameBudget;
  /** For failures of this node's own (a disk error), never for what a peer sent. */
  log: (line: string) => void;
}

/** The frame being read, and what is done with its bytes. */
type Frame =
  | { kind: "message"; type: number; bytes: Buffer; filled: number }
  | { kind: "file"; length: number; header: FileHeaderReader; name: string | null; draft: Draft | null; size: number }
  | { kind: "refused"; code: string; message: string };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function dataExchange(options: DataExchangeOptions): (stream: ServiceStream) => ServiceSession {
  return (stream) => new Session(stream, options);
}

class Session extends FramedSession<DataHead> {
  readonly #o: DataExchangeOptions;
  #frame: Frame | null = null;
  /** After a frame that cannot be framed past: nothing more is read. */
  #broken = false;

  constructor(stream: ServiceStream, options: DataExchangeOptions) {
    super(stream, dataFrameDecoder(), options.budget.limits.stallMs);
    this.#o = options;
  }

  protected async ended(between: boolean): Promise<void> {
    // The peer ended inside a frame: whatever of it was kept goes.
    if (!between && !this.#broken) this.#answer(errText("truncated", "the stream ended inside a frame; nothing of that frame was kept"));
    this.release();
    this.stream.end();
  }

  protected release(): void {
    const frame = this.#frame;
    this.#frame = null;
    if (frame?.kind === "message") this.#o.budget.release(this.stream.peer, frame.bytes.length);
    if (frame?.kind === "file") void frame.draft?.abandon();
  }

  protected async handle(event: FrameEvent<DataHead>): Promise<void> {
    switch (event.kind) {
      case "head":
        await this.caughtUp(ANSWER_BACKLOG);
        return this.#start(event.head.type, event.length);
      case "data":
        return this.#take(event.bytes);
      case "end":
        return this.#finishFrame();
      case "bad":
        this.#broken = true;
        this.#answer(errText("frame_too_large", event.reason));
        this.stream.end();
    }
  }

  async #start(type: number, length: number): Promise<void> {
    if (type === FRAME_TYPE.file) {
      this.#frame = { kind: "file", length, header: new FileHeaderReader(length), name: null, draft: null, size: 0 };
      return;
    }
    if (type !== FRAME_TYPE.text && type !== FRAME_TYPE.json && type !== FRAME_TYPE.binary) {
      this.#frame = { kind: "refused", code: "unknown_type", message: `frame type ${type} is none of 1 (text), 2 (binary), 3 (JSON), 4 (file)` };
      return;
    }
    await this.#o.budget.reserve(this.stream.peer, length);
    this.#frame = { kind: "message", type, bytes: Buffer.allocUnsafe(length), filled: 0 };
    // Closed while waiting for the room: give it back.
    if (this.isClosed) this.release();
  }

  async #take(bytes: Buffer): Promise<void> {
    const frame = this.#frame;
    if (frame?.kind === "message") {
      frame.filled += bytes.copy(frame.bytes, frame.filled);
    } else if (frame?.kind === "file") {
      if (frame.draft) return this.#write(frame, frame.draft, bytes);
      const read = frame.header.push(bytes);
      if (read === null) return;
      if (typeof read === "string") return this.#refuse("invalid_file", read);
      const name = readFileName(read.name);
      if ("problem" in name) return this.#refuse("invalid_file_name", name.problem);
      frame.name = name.name;
      frame.size = frame.length - 2 - read.name.length;
      let draft: Draft;
      try {
        draft = await this.#o.received.begin(frame.size);
      } catch (e) {
        return this.#refuse(...this.#failure(e, "the file"));
      }
      // Closed while the file was being opened: nothing will finish it.
      if (this.isClosed) return draft.abandon();
      frame.draft = draft;
      if (read.rest.length) await this.#write(frame, draft, read.rest);
    }
  }

  async #write(frame: Extract<Frame, { kind: "file" }>, draft: Draft, bytes: Buffer): Promise<void> {
    try {
      await draft.write(bytes);
    } catch (e) {
      // The connection closed under the write (its file was abandoned then): nobody to tell.
      if (this.isClosed) return;
      frame.draft = null;
      await draft.abandon();
      this.#refuse(...this.#failure(e, "the file"));
    }
  }

  async #finishFrame(): Promise<void> {
    const frame = this.#frame;
    if (!frame) return;
    // Out of reach of `release` from here: a frame being saved is finished, or given back, below.
    this.#frame = null;
    if (frame.kind === "refused") return this.#answer(errText(frame.code, frame.message));
    if (frame.kind === "file") {
      if (!frame.draft) return this.#answer(errText("invalid_file", "the file frame is too short to hold its name"));
      try {
        await this.#o.received.keep(frame.draft, frame.name!);
        return this.#answer(ackText(FRAME_TYPE.file, frame.size));
      } catch (e) {
        return this.#answer(errText(...this.#failure(e, "the file")));
      }
    }
    try {
      const answer = await this.#save(frame.type, frame.bytes);
      this.#answer(answer);
    } finally {
      this.#o.budget.release(this.stream.peer, frame.bytes.length);
    }
  }

  /** Checks a message and saves it to the inbox; returns the answer. */
  async #save(type: number, bytes: Buffer): Promise<string> {
    let data: string;
    if (type === FRAME_TYPE.binary) {
      data = bytes.toString("base64");
    } else {
      try {
        data = utf8.decode(bytes);
      } catch {
        return errText(type === FRAME_TYPE.json ? "invalid_json" : "invalid_text", `the ${typeLabel(type)} message is not UTF-8`);
      }
      const problem = type === FRAME_TYPE.json ? jsonProblem(data) : undefined;
      if (problem) return errText("invalid_json", `the JSON message ${problem}`);
    }
    const at = new Date();
    const message: InboxMessage = {
      type: typeLabel(type) as InboxMessage["type"],
      from: formatAddress({ network: 0, node: this.stream.peer }),
      data,
      bytes: bytes.length,
      received_at: at.toISOString(),
    };
    try {
      await this.#o.inbox.save(message, at);
      return ackText(type, bytes.length);
    } catch (e) {
      return errText(...this.#failure(e, "the message"));
    }
  }

  /** The rest of this frame is read and dropped, then answered with this error. */
  #refuse(code: string, message: string): void {
    const frame = this.#frame;
    if (frame?.kind === "file" && frame.draft) void frame.draft.abandon();
    this.#frame = { kind: "refused", code, message };
  }

  /**
   * What a peer is told of a failure: a full directory as it is; anything else (a disk error, an
   * unsafe directory) only that it failed, with the details in this node's log.
   */
  #failure(e: unknown, what: string): [string, string] {
    if (e instanceof PilotError && (e.code === "inbox_full" || e.code === "received_full")) return [e.code, e.message];
    this.#o.log(`data exchange: could not save ${what} from node ${this.stream.peer}: ${e instanceof Error ? e.message : String(e)}`);
    return ["save_failed", `${what} could not be saved on this node`];
  }

  #answer(text: string): void {
    this.stream.write(encodeDataFrame(FRAME_TYPE.text, Buffer.from(text)));
  }
}

/** How deep a peer's JSON may nest: far beyond real messages, far below what makes parsing costly. */
export const MAX_JSON_DEPTH = 256;

/**
 * What keeps a peer's text from being JSON, if anything. Deep nesting is refused before parsing, by one pass that keeps
 * only a counter: parsing 16 MiB of `[[[…` holds the event loop for seconds and takes hundreds of
 * megabytes the frame budget never sees, while flat JSON of that size parses in a moment.
 */
function jsonProblem(text: string): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return `nests deeper than ${MAX_JSON_DEPTH}`;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  try {
    JSON.parse(text);
    return undefined;
  } catch {
    return "does not parse as JSON";
  }
}
