/**
 * The event broker (port 1002) against scripted peers: subscriptions and fan-out, never back to
 * the publisher; events that break the format; a subscriber that never reads; the memory held for
 * slow subscribers; a publisher that floods. Between real daemons, e2e/services.test.ts.
 */
import { describe, expect, it } from "vitest";
import { EventBroker } from "../src/services/event-broker.ts";
import { encodeEvent, eventDecoder } from "../src/services/event-frames.ts";
import { FrameBudget } from "../src/services/frame-budget.ts";
import { ScriptedStream } from "./scripted-stream.ts";
import { waitFor } from "./wait.ts";

const event = (topic: string, payload: string | Buffer) => Buffer.concat(encodeEvent(topic, Buffer.from(payload)));
const KiB = 1024;

/** The events a subscriber was sent, as "topic:payload". */
function received(s: ScriptedStream): string[] {
  const out: string[] = [];
  let topic = "";
  let pieces: Buffer[] = [];
  for (const e of eventDecoder().push(s.bytes)) {
    if (e.kind === "head") [topic, pieces] = [e.head.topic, []];
    else if (e.kind === "data") pieces.push(e.bytes);
    else if (e.kind === "end") out.push(`${topic}:${Buffer.concat(pieces).toString()}`);
  }
  return out;
}

function setUp(limits: { subscriberBacklog?: number; held?: number } = {}) {
  const budget = new FrameBudget({ total: 64 << 20, perPeer: 32 << 20 });
  const broker = new EventBroker(budget, limits);
  let peer = 100;
  const connect = () => new ScriptedStream(peer++, broker.open);
  /** A connection that subscribes to `topic` (its first event). */
  const subscriber = (topic: string) => {
    const s = connect();
    s.send(event(topic, "ignored: a subscription's payload"));
    return s;
  };
  return { budget, broker, connect, subscriber };
}

/** Waits until every byte sent to the broker has been handled (a publish waits on the budget). */
const handled = (...streams: ScriptedStream[]) => waitFor(() => streams.every((s) => s.consumedBytes === s.delivered), "the broker to handle what was sent");

describe("the event broker", () => {
  it("fans an event out to its topic's subscribers and to *, never back to its publisher, nor to other topics", async () => {
    const { subscriber, budget, broker } = setUp();
    const [alerts, all, other, publisher] = [subscriber("alerts"), subscriber("*"), subscriber("metrics"), subscriber("alerts")];
    publisher.send(event("alerts", "disk full"));
    await handled(alerts, all, other, publisher);
    expect(received(alerts)).toEqual(["alerts:disk full"]);
    expect(received(all)).toEqual(["alerts:disk full"]);
    expect(received(other)).toEqual([]);
    expect(received(publisher)).toEqual([]);
    // An event to * reaches the subscribers of * only.
    other.send(event("*", "to everyone listening to everything"));
    await handled(other);
    expect(received(all)).toEqual(["alerts:disk full", "*:to everyone listening to everything"]);
    expect(received(alerts)).toEqual(["alerts:disk full"]);
    expect(budget.used).toBe(0);
    for (const s of [alerts, all]) s.ack();
    expect(broker.held).toBe(0);
  });

  it("drops a subscriber whose connection ends or fails, and ends its own side after the peer's", async () => {
    const { subscriber, broker } = setUp();
    const [leaving, failing, staying, publisher] = [subscriber("t"), subscriber("t"), subscriber("t"), subscriber("p")];
    await handled(leaving, failing, staying);
    leaving.finish();
    failing.fail();
    await waitFor(() => leaving.ended, "the broker to end its side");
    publisher.send(event("t", "after"));
    await handled(publisher);
    expect(received(leaving)).toEqual([]);
    expect(received(failing)).toEqual([]);
    expect(received(staying)).toEqual(["t:after"]);
    staying.ack();
    expect(broker.held).toBe(0);
  });

  it("resets a connection whose event breaks the format, which then reaches no one", async () => {
    const { subscriber, connect, budget } = setUp();
    const listener = subscriber("*");
    const cases = [
      Buffer.from([0, 0, 0, 0, 0, 0]), // an empty topic
      Buffer.concat([Buffer.from([0x04, 0x01]), Buffer.alloc(1025, 0x61), Buffer.alloc(4)]), // a topic of 1,025 bytes
      Buffer.concat([Buffer.from([0, 3]), Buffer.from("a\nb"), Buffer.alloc(4)]),
      Buffer.concat([Buffer.from([0, 2]), Buffer.from([0xc3, 0x28]), Buffer.alloc(4)]),
      Buffer.concat([Buffer.from([0, 1]), Buffer.from("t"), Buffer.from([0x01, 0, 0, 1])]), // 16 MiB and a byte
    ];
    for (const bad of cases) {
      // As the subscription…
      const asFirst = connect();
      asFirst.send(bad, event("*", "never published"));
      // …and as a later event, after which nothing more is read.
      const asLater = subscriber("t");
      asLater.send(bad, event("t", "never published either"));
      await waitFor(() => asFirst.wasReset && asLater.wasReset, "both to be reset");
    }
    await handled(listener);
    expect(received(listener)).toEqual([]);
    expect(budget.used).toBe(0);
  });

  it("disconnects a subscriber that falls too far behind, and serves the others on", async () => {
    const { subscriber, broker } = setUp({ subscriberBacklog: 100 * KiB });
    const [slow, fast, publisher] = [subscriber("t"), subscriber("t"), subscriber("p")];
    const payload = Buffer.alloc(30 * KiB, 0x61);
    for (let i = 0; i < 5; i++) {
      publisher.send(event("t", payload));
      await handled(publisher);
      fast.ack();
    }
    // Caught up, a subscriber takes any one event; behind, only what keeps it within 100 KiB: three.
    expect(slow.wasReset).toBe(true);
    expect(received(slow)).toHaveLength(3);
    expect(received(fast)).toHaveLength(5);
    // What was held for the slow one is let go.
    expect(broker.held).toBe(0);
  });

  it("takes any one event, however large, while a subscriber is caught up", async () => {
    const { subscriber } = setUp({ subscriberBacklog: 10 * KiB });
    const [sub, publisher] = [subscriber("t"), subscriber("p")];
    publisher.send(event("t", Buffer.alloc(50 * KiB)));
    await handled(publisher);
    expect(sub.wasReset).toBe(false);
    expect(received(sub)).toHaveLength(1);
  });

  it("holds each event once for all its subscribers, and makes room by dropping those furthest behind", async () => {
    const { subscriber, broker } = setUp({ subscriberBacklog: 1 << 20, held: 200 * KiB });
    const [a, b, c, publisher] = [subscriber("x"), subscriber("y"), subscriber("*"), subscriber("p")];
    const big = Buffer.alloc(60 * KiB);
    // 60 KiB to A and C: held once.
    publisher.send(event("x", big));
    await handled(publisher);
    expect(broker.held).toBeGreaterThan(60 * KiB);
    expect(broker.held).toBeLessThan(61 * KiB);
    c.ack();
    publisher.send(event("y", big), event("y", big));
    await handled(publisher);
    c.ack();
    // A holds one (60 KiB), B two (120 KiB): the next 60 KiB does not fit in 200 KiB; B, furthest behind, goes.
    publisher.send(event("x", big));
    await handled(publisher);
    expect(b.wasReset).toBe(true);
    expect(a.wasReset).toBe(false);
    expect(c.wasReset).toBe(false);
    expect(received(a)).toHaveLength(2);
    expect(received(c)).toHaveLength(4);
    for (const s of [a, c]) s.ack();
    expect(broker.held).toBe(0);
  });

  it("keeps up with a publisher that floods, holding no more than its limit", async () => {
    const { subscriber, broker, budget } = setUp({ subscriberBacklog: 64 * KiB, held: 128 * KiB });
    const [reader, sleeper, publisher] = [subscriber("t"), subscriber("t"), subscriber("p")];
    reader.keepsUp = true;
    let most = 0;
    reader.onWrite = () => (most = Math.max(most, broker.held));
    for (let i = 0; i < 2000; i++) publisher.send(event("t", `event ${i} ${"x".repeat(200)}`));
    await handled(publisher);
    await new Promise((r) => setImmediate(r));
    expect(received(reader)).toHaveLength(2000);
    expect(received(reader).at(-1)).toMatch(/^t:event 1999 /);
    expect(sleeper.wasReset).toBe(true);
    expect(most).toBeLessThanOrEqual(128 * KiB);
    expect(broker.held).toBe(0);
    expect(budget.used).toBe(0);
  });

  it("gives back an event's memory when its publisher's connection fails half-way", async () => {
    const { subscriber, budget } = setUp();
    const [listener, publisher] = [subscriber("t"), subscriber("p")];
    publisher.send(event("t", Buffer.alloc(100 * KiB)).subarray(0, 50 * KiB));
    await waitFor(() => budget.used === 100 * KiB, "the event's room set aside");
    publisher.fail();
    expect(budget.used).toBe(0);
    expect(received(listener)).toEqual([]);
  });
});
