/**
 * The event stream service (port 1002): a broker in this daemon for the peers that connect to it.
 * The first event on a connection subscribes it to that event's topic (`*` for every topic; the
 * payload is ignored); every later one is published: sent to this broker's subscribers of its topic
 * and of `*`, never back on the connection it came from. There is no answer: an event that breaks
 * the format (event-frames.ts) resets its connection.
 *
 * Memory: an event being received is gathered whole in room from the daemon's frame budget
 * (frame-budget.ts). Once fanned out, it is held until every subscriber it went to has
 * acknowledged it; a subscriber that falls more than `subscriberBacklog` behind is disconnected
 * (not skipped: a gap it could not see would be worse than a reset it can), and when the events
 * held in all would pass `held`, the subscribers furthest behind are disconnected first.
 */
import { ALL_TOPICS, encodeEvent, eventDecoder, type EventHead } from "./event-frames.ts";
import type { FrameEvent } from "./frame-decoder.ts";
import type { FrameBudget } from "./frame-budget.ts";
import { FramedSession } from "./framed-session.ts";
import type { ServiceSession, ServiceStream } from "./hosting.ts";

export interface BrokerLimits {
  /** Bytes sent to one subscriber and not yet acknowledged; past it, the subscriber is disconnected. A subscriber that is caught up takes any one event. */
  subscriberBacklog: number;
  /** Bytes of events fanned out and not yet acknowledged by all their subscribers, counted once each. */
  held: number;
}

/** A subscriber may be one largest event behind; 64 MiB held in all, four of them. */
export const DEFAULT_BROKER_LIMITS: BrokerLimits = { subscriberBacklog: 16 << 20, held: 64 << 20 };

/** An event fanned out, and how many subscribers have yet to acknowledge it. */
interface Held {
  size: number;
  waiting: number;
}

export class EventBroker {
  readonly limits: BrokerLimits;
  readonly #budget: FrameBudget;
  readonly #byTopic = new Map<string, Set<Subscription>>();
  #held = 0;

  constructor(budget: FrameBudget, limits: Partial<BrokerLimits> = {}) {
    this.#budget = budget;
    this.limits = { ...DEFAULT_BROKER_LIMITS, ...limits };
  }

  /** A session for a connection to the broker (hosting.ts). */
  readonly open = (stream: ServiceStream): ServiceSession => new Subscription(this, this.#budget, stream);

  /** Bytes of events held for subscribers that have not acknowledged them. */
  get held(): number {
    return this.#held;
  }

  subscribe(s: Subscription): void {
    const set = this.#byTopic.get(s.topic!) ?? new Set();
    set.add(s);
    this.#byTopic.set(s.topic!, set);
  }

  unsubscribe(s: Subscription): void {
    const set = this.#byTopic.get(s.topic!);
    if (!set?.delete(s)) return;
    if (set.size === 0) this.#byTopic.delete(s.topic!);
  }

  /** Sends an event to the subscribers of its topic and of `*`, except the connection it came from. */
  publish(from: Subscription, topic: string, payload: Buffer): void {
    const pieces = encodeEvent(topic, payload);
    const size = pieces[0].length + payload.length;
    const targets = new Set([...(this.#byTopic.get(topic) ?? []), ...(topic === ALL_TOPICS ? [] : (this.#byTopic.get(ALL_TOPICS) ?? []))]);
    targets.delete(from);
    for (const s of targets) {
      const backlog = s.settle();
      if (backlog > 0 && backlog + size > this.limits.subscriberBacklog) this.#evict(s, targets);
    }
    if (targets.size === 0) return;
    this.#makeRoom(size, targets);
    const held: Held = { size, waiting: targets.size };
    this.#held += size;
    for (const s of targets) s.send(pieces, held);
  }

  /** A subscriber acknowledged `held`, or is gone without it. */
  settled(held: Held): void {
    if (--held.waiting === 0) this.#held -= held.size;
  }

  /** Disconnects the subscribers furthest behind until `size` more fits in what may be held. */
  #makeRoom(size: number, targets: Set<Subscription>): void {
    while (this.#held + size > this.limits.held) {
      let furthest: Subscription | null = null;
      let most = 0;
      for (const set of this.#byTopic.values()) {
        for (const s of set) {
          const backlog = s.settle();
          if (backlog > most) [furthest, most] = [s, backlog];
        }
      }
      if (!furthest) return;
      this.#evict(furthest, targets);
    }
  }

  #evict(s: Subscription, targets: Set<Subscription>): void {
    targets.delete(s);
    s.disconnect();
  }
}

/** One connection to the broker: its subscription, the event it is sending, and what it was sent. */
class Subscription extends FramedSession<EventHead> {
  readonly #broker: EventBroker;
  readonly #budget: FrameBudget;
  /** What it subscribed to, once its first event is whole. */
  topic: string | null = null;
  #subscribing = false;
  /** The event being published. */
  #event: { topic: string; bytes: Buffer; filled: number } | null = null;
  /** Events sent to it and not yet acknowledged, with where each ends in what was sent. */
  readonly #sent: { held: Held; end: number }[] = [];
  #sentBytes = 0;

  constructor(broker: EventBroker, budget: FrameBudget, stream: ServiceStream) {
    super(stream, eventDecoder(), budget.limits.stallMs);
    this.#broker = broker;
    this.#budget = budget;
  }

  protected async handle(event: FrameEvent<EventHead>): Promise<void> {
    switch (event.kind) {
      case "head":
        if (this.topic === null) {
          // The subscription: its payload is not kept.
          this.topic = event.head.topic;
          this.#subscribing = true;
          return;
        }
        await this.#budget.reserve(this.stream.peer, event.length);
        this.#event = { topic: event.head.topic, bytes: Buffer.allocUnsafe(event.length), filled: 0 };
        if (this.isClosed) this.release();
        return;
      case "data":
        if (this.#event) this.#event.filled += event.bytes.copy(this.#event.bytes, this.#event.filled);
        return;
      case "end":
        return this.#complete();
      case "bad":
        this.stream.reset();
    }
  }

  #complete(): void {
    if (this.#subscribing) {
      this.#subscribing = false;
      this.#broker.subscribe(this);
      return;
    }
    const event = this.#event!;
    // Out of reach of `release`: publishing may disconnect this very connection, if it lags as a subscriber.
    this.#event = null;
    try {
      this.#broker.publish(this, event.topic, event.bytes);
    } finally {
      this.#budget.release(this.stream.peer, event.bytes.length);
    }
  }

  protected ended(): void {
    this.release();
    this.stream.end();
  }

  protected release(): void {
    this.#broker.unsubscribe(this);
    for (const { held } of this.#sent.splice(0)) this.#broker.settled(held);
    const event = this.#event;
    this.#event = null;
    if (event) this.#budget.release(this.stream.peer, event.bytes.length);
  }

  override drained(): void {
    this.settle();
    super.drained();
  }

  /** Lets go of the events the peer has acknowledged; returns how far behind it still is. */
  settle(): number {
    const backlog = this.stream.backlog;
    const acknowledged = this.#sentBytes - backlog;
    while (this.#sent.length && this.#sent[0]!.end <= acknowledged) this.#broker.settled(this.#sent.shift()!.held);
    return backlog;
  }

  /** Resets the connection: it fell too far behind. */
  disconnect(): void {
    this.stream.reset();
  }

  send(pieces: Buffer[], held: Held): void {
    this.stream.write(pieces);
    this.#sentBytes += held.size;
    this.#sent.push({ held, end: this.#sentBytes });
  }
}
