/**
 * The event stream's wire format (port 1002), as in the Pilot command set: events of
 * `[u16 topic length][topic][u32 length][payload]`, big-endian. A topic is 1 to 1,024 bytes of
 * UTF-8 without control characters; `*` subscribes to every topic. A payload is at most 16 MiB.
 * Without I/O.
 */
import { FrameDecoder, type HeaderRead } from "./frame-decoder.ts";
import { plainText } from "./peer-text.ts";

export const EVENT_STREAM_PORT = 1002;
export const MAX_TOPIC = 1024;
export const MAX_EVENT = 16 << 20;
export const ALL_TOPICS = "*";

/** The topic in `bytes`, or why it is none. */
export function readTopic(bytes: Buffer): { topic: string } | { problem: string } {
  if (bytes.length === 0) return { problem: "the topic is empty" };
  if (bytes.length > MAX_TOPIC) return { problem: `the topic is ${bytes.length} bytes, over the ${MAX_TOPIC}-byte limit` };
  const read = plainText(bytes, "the topic");
  return "problem" in read ? read : { topic: read.text };
}

/** The header and the payload, as two pieces: the payload is not copied. */
export function encodeEvent(topic: string, payload: Buffer): [Buffer, Buffer] {
  const name = Buffer.from(topic);
  const header = Buffer.alloc(2 + name.length + 4);
  header.writeUInt16BE(name.length, 0);
  name.copy(header, 2);
  header.writeUInt32BE(payload.length, 2 + name.length);
  return [header, payload];
}

export interface EventHead {
  topic: string;
}

/** Reads events; a bad topic or a length over MAX_EVENT ends the stream's framing. */
export function eventDecoder(): FrameDecoder<EventHead> {
  return new FrameDecoder((bytes): HeaderRead<EventHead> => {
    if (bytes.length < 2) return { need: 2 };
    const topicLength = bytes.readUInt16BE(0);
    if (topicLength > MAX_TOPIC) return { bad: `the topic is ${topicLength} bytes, over the ${MAX_TOPIC}-byte limit` };
    const size = 2 + topicLength + 4;
    if (bytes.length < size) return { need: size };
    const read = readTopic(bytes.subarray(2, 2 + topicLength));
    if ("problem" in read) return { bad: read.problem };
    const length = bytes.readUInt32BE(2 + topicLength);
    if (length > MAX_EVENT) return { bad: `an event of ${length} bytes is over the ${MAX_EVENT}-byte limit` };
    return { head: { topic: read.topic }, length };
  });
}
