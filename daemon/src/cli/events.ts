/**
 * pilotctl's event stream commands, against the broker in a peer's daemon (port 1002): subscribe,
 * collecting a number of events or printing each as a line of JSON as it comes, and publish. Each
 * returns its command's `data`; failures are PilotErrors.
 */
import { PilotError } from "../errors.ts";
import { Pilot, type PilotConnection } from "../sdk/pilot.ts";
import { encodeEvent, EVENT_STREAM_PORT, eventDecoder, MAX_EVENT, readTopic } from "../services/event-frames.ts";
import type { HomeOption } from "./messages.ts";
import { gatherFrames } from "./service-client.ts";
import { deadline, dialBefore } from "./streams.ts";

/** One event as pilotctl shows it: the payload as UTF-8 text. */
export interface ShownEvent {
  topic: string;
  data: string;
  bytes: number;
}

function checkTopic(topic: string): void {
  const read = readTopic(Buffer.from(topic));
  if ("problem" in read) throw new PilotError("invalid_argument", `${read.problem}: ${JSON.stringify(topic)}`, 'a topic is 1 to 1024 bytes of text without control characters; "*" subscribes to every topic');
}

/** Opens a connection to the peer's broker and subscribes it to `topic`. */
async function subscribed(pilot: Pilot, target: string, topic: string, signal: AbortSignal, seconds: number): Promise<PilotConnection> {
  checkTopic(topic);
  const conn = await dialBefore(pilot, target, EVENT_STREAM_PORT, signal, seconds);
  conn.write(Buffer.concat(encodeEvent(topic, Buffer.alloc(0))));
  return conn;
}

/** Calls `onEvent` for each event published to the subscription; resolves when the broker ends the connection. */
function readEvents(conn: PilotConnection, onEvent: (e: ShownEvent) => void): Promise<void> {
  return gatherFrames(conn, eventDecoder(), (head, payload) => onEvent({ topic: head.topic, data: payload.toString("utf8"), bytes: payload.length }));
}

/**
 * subscribe --count N: the first `count` events published to `topic` on the peer's broker, or those
 * that came within `seconds` (then `timeout: true`).
 */
export async function subscribe(target: string, topic: string, options: HomeOption & { count: number; seconds?: number }) {
  const { count, seconds = 30 } = options;
  const pilot = await Pilot.connect(options.home);
  const { signal, clear } = deadline(seconds);
  const events: ShownEvent[] = [];
  let conn: PilotConnection | undefined;
  try {
    conn = await subscribed(pilot, target, topic, signal, seconds);
    const timedOut = await new Promise<boolean>((resolve, reject) => {
      readEvents(conn!, (e) => {
        if (events.length < count) events.push(e);
        if (events.length === count) resolve(false);
      }).then(() => resolve(false), reject);
      signal.addEventListener("abort", () => resolve(true), { once: true });
    });
    return { events, timeout: timedOut };
  } finally {
    conn?.destroy();
    clear();
    pilot.close();
  }
}

/**
 * subscribe without --count: writes each event published to `topic` on the peer's broker as one
 * line of JSON (`{"topic","data","bytes"}`) until `signal` aborts (resolves) or the broker ends the
 * connection (resolves) or fails it (rejects). `seconds` bounds the connecting only.
 */
export async function subscribeLines(target: string, topic: string, writeLine: (line: string) => void, signal: AbortSignal, options: HomeOption & { seconds?: number } = {}): Promise<void> {
  const seconds = options.seconds ?? 30;
  const pilot = await Pilot.connect(options.home);
  const connecting = deadline(seconds);
  let conn: PilotConnection | undefined;
  try {
    try {
      conn = await subscribed(pilot, target, topic, AbortSignal.any([connecting.signal, signal]), seconds);
    } catch (e) {
      // Stopped while connecting: nothing came, and nothing went wrong.
      if (signal.aborted) return;
      throw e;
    } finally {
      connecting.clear();
    }
    const stopped = new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
    const reading = readEvents(conn, (e) => writeLine(JSON.stringify(e)));
    // Once stopped, the connection is destroyed under the reading, whose end no one waits for.
    reading.catch(() => undefined);
    await Promise.race([reading, stopped]);
  } finally {
    conn?.destroy();
    pilot.close();
  }
}

/** publish: one event to `topic` on the peer's broker. Returns once the broker has taken it. */
export async function publish(target: string, topic: string, data: Buffer, options: HomeOption & { seconds?: number } = {}) {
  const seconds = options.seconds ?? 30;
  if (data.length > MAX_EVENT) throw new PilotError("too_large", `the event is ${data.length} bytes, over the ${MAX_EVENT}-byte limit`, "publish it in parts");
  const pilot = await Pilot.connect(options.home);
  const { signal, clear } = deadline(seconds);
  let conn: PilotConnection | undefined;
  try {
    // The connection subscribes to the topic it publishes to, which the broker never echoes back to it.
    conn = await subscribed(pilot, target, topic, signal, seconds);
    const taken = new Promise<void>((resolve, reject) => {
      // Events others publish meanwhile arrive on the subscription: they are read and let go.
      readEvents(conn!, () => undefined).then(resolve, reject);
      signal.addEventListener("abort", () => reject(new PilotError("timeout", `${target}'s broker did not take the event within ${seconds} s`, "the node may be slow or unreachable; raise --timeout or try again")), { once: true });
    });
    for (const piece of encodeEvent(topic, data)) conn.write(piece);
    // The broker ends its side once it has read ours to the end, so everything before was published.
    conn.end();
    await taken;
    return { target, topic, bytes: data.length };
  } finally {
    conn?.destroy();
    clear();
    pilot.close();
  }
}
