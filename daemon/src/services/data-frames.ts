/**
 * The data exchange's wire format (port 1001), as in the Pilot command set: frames of
 * `[u32 type][u32 length][payload]`, big-endian, the payload at most 16 MiB. A file's payload is
 * `[u16 name length][name][data]`. The receiver answers each frame with a text frame,
 * `ACK <TYPE> <n> bytes` or `ERR <code>: <message>`. Without I/O.
 */
import { FrameDecoder, type HeaderRead } from "./frame-decoder.ts";
import { plainText, showable } from "./peer-text.ts";

export const DATA_EXCHANGE_PORT = 1001;
export const MAX_FRAME = 16 << 20;
const HEADER = 8;

export const FRAME_TYPE = { text: 1, binary: 2, json: 3, file: 4 } as const;
export type FrameTypeName = keyof typeof FRAME_TYPE;

/** A frame type's name in answers and in the inbox: TEXT, BINARY, JSON or FILE. */
export function typeLabel(type: number): string {
  const name = (Object.keys(FRAME_TYPE) as FrameTypeName[]).find((k) => FRAME_TYPE[k] === type);
  return name ? name.toUpperCase() : `UNKNOWN(${type})`;
}

export interface DataHead {
  type: number;
}

/** The header and the payload, as two pieces: the payload is not copied. */
export function encodeDataFrame(type: number, payload: Buffer): [Buffer, Buffer] {
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(type, 0);
  header.writeUInt32BE(payload.length, 4);
  return [header, payload];
}

/** Reads frames; a length over MAX_FRAME ends the stream's framing (its payload is not read). */
export function dataFrameDecoder(): FrameDecoder<DataHead> {
  return new FrameDecoder((bytes): HeaderRead<DataHead> => {
    if (bytes.length < HEADER) return { need: HEADER };
    const length = bytes.readUInt32BE(4);
    if (length > MAX_FRAME) return { bad: `a frame of ${length} bytes is over the ${MAX_FRAME}-byte limit` };
    return { head: { type: bytes.readUInt32BE(0) }, length };
  });
}

// ── Files ──

/** The longest file name taken, in UTF-8 bytes: a file system's 255, less room for a "-NNNN" that keeps it apart from a file of the same name. */
export const MAX_FILE_NAME = 240;

/**
 * The file name in `bytes`, or why it cannot name a file in the receiving directory. The name comes
 * from a peer: it must be a plain name there, never a path, a hidden file, or something a terminal
 * would act on when the name is listed.
 */
export function readFileName(bytes: Buffer): { name: string } | { problem: string } {
  if (bytes.length === 0) return { problem: "the file name is empty" };
  if (bytes.length > MAX_FILE_NAME) return { problem: `the file name is ${bytes.length} bytes, over the ${MAX_FILE_NAME}-byte limit` };
  const read = plainText(bytes, "the file name");
  if ("problem" in read) return read;
  const name = read.text;
  if (name.includes("/") || name.includes("\\")) return { problem: "the file name holds a path separator; send a plain name" };
  if (name.startsWith(".")) return { problem: 'the file name starts with "." (a hidden file, or a way up the tree)' };
  return { name };
}

/** The most a file's data may hold to go in one frame under `name`. */
export const maxFileData = (name: string) => MAX_FRAME - 2 - Buffer.byteLength(name);

/** A file's frame, as pieces: the frame's header, the name's length and the name, and the data (not copied). */
export function encodeFile(name: string, data: Buffer): Buffer[] {
  const nameBytes = Buffer.from(name);
  const header = Buffer.alloc(HEADER + 2 + nameBytes.length);
  header.writeUInt32BE(FRAME_TYPE.file, 0);
  header.writeUInt32BE(2 + nameBytes.length + data.length, 4);
  header.writeUInt16BE(nameBytes.length, HEADER);
  nameBytes.copy(header, HEADER + 2);
  return [header, data];
}

/**
 * Reads the start of a file's payload, whose frame is `length` bytes: pieces of the payload in,
 * then the name's bytes and what of the data came with them.
 */
export class FileHeaderReader {
  readonly #length: number;
  #gathered = Buffer.alloc(0);

  constructor(length: number) {
    this.#length = length;
  }

  /** null while more is needed; a string when the payload cannot hold the name it announces. */
  push(piece: Buffer): { name: Buffer; rest: Buffer } | string | null {
    this.#gathered = Buffer.concat([this.#gathered, piece]);
    if (this.#gathered.length < 2) return null;
    const nameLength = this.#gathered.readUInt16BE(0);
    if (2 + nameLength > this.#length) return `the file name's length (${nameLength}) runs past the frame`;
    if (this.#gathered.length < 2 + nameLength) return null;
    return { name: this.#gathered.subarray(2, 2 + nameLength), rest: this.#gathered.subarray(2 + nameLength) };
  }
}

// ── Answers ──

export const ackText = (type: number, bytes: number) => `ACK ${typeLabel(type)} ${bytes} bytes`;
export const errText = (code: string, message: string) => `ERR ${code}: ${message}`;

/**
 * An answer's code and message, or null for an ACK. The answer comes from the peer: its message is
 * cut to 1,000 characters and its control characters shown as "?", so it is safe to print.
 */
export function readAnswer(text: string): { code: string; message: string } | null {
  if (/^ACK [A-Z]+ \d+ bytes$/.test(text)) return null;
  const match = /^ERR ([a-z_]{1,40}): (.*)$/s.exec(text);
  return match ? { code: match[1]!, message: showable(match[2]!) } : { code: "bad_answer", message: `the peer answered neither ACK nor ERR: ${showable(text)}` };
}
