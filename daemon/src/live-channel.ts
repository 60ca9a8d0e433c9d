/**
 * A live channel from the registry: a WebSocket to a Durable Object that pushes events, either a
 * network's (membership changes) or the node's own (handshakes, decisions, revocations).
 *
 * - It reconnects with capped, jittered exponential backoff, fetching a fresh token each time.
 * - After every (re)connect it asks its owner to resynchronise (events sent while it was away are
 *   not replayed) and holds back events until that is done, so a snapshot read during the resync
 *   can never be applied after, and undo, an event that arrived meanwhile. A resync that fails
 *   drops the connection and tries again with backoff: the state is not in sync until one succeeds.
 * - It pings every 20 s and treats a missing pong as a lost connection, so a half-open socket
 *   (a NAT that forgot it, a laptop that slept) cannot make it deaf for long.
 * - It ends for good when its node is removed or deregistered, or the network is deleted.
 */
import { CHANNEL_CLOSE, NODE_CHANNEL_CLOSE, NodeEvent, PushEvent } from "@pilot/protocol";
import { KEEP_ALIVE_TIMED_OUT, KeepAlive, openRegistrySocket, reconnectDelay, type WebSocket } from "./net/registry-socket.ts";

export type ChannelEnd = "removed" | "deleted" | "deregistered" | "replaced" | "closed";

/** A close code the client itself uses (the registry's own are in CHANNEL_CLOSE and NODE_CHANNEL_CLOSE), beside KEEP_ALIVE_TIMED_OUT. */
const RESYNC_FAILED = 4010;

/** What differs between the two kinds of channel. */
export interface ChannelProtocol<E extends { type: string }> {
  parse(data: unknown): E | undefined;
  /** The greeting every connection starts with: who we are, and the state to resync from. */
  hello(event: E): { nodeId: number; revision: number } | undefined;
  /** Whether this event (seen by node `self`) ends the channel for good. */
  ends(event: E, self: number): ChannelEnd | undefined;
  closeCodes: Readonly<Record<number, ChannelEnd>>;
  /** A message to send back once the event has been handled. */
  ack?(event: E): string | undefined;
}

const parser =
  <E>(schema: { safeParse(v: unknown): { success: true; data: E } | { success: false } }) =>
  (data: unknown): E | undefined => {
    try {
      const parsed = schema.safeParse(JSON.parse(String(data)));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  };

/** A network's channel: membership events; ends when the node is removed or the network deleted. */
export const networkProtocol: ChannelProtocol<PushEvent> = {
  parse: parser(PushEvent),
  hello: (e) => (e.type === "hello" ? { nodeId: e.node_id, revision: e.revision } : undefined),
  ends: (e, self) => (e.type === "member_removed" && e.node_id === self ? "removed" : e.type === "network_deleted" ? "deleted" : undefined),
  closeCodes: { [CHANNEL_CLOSE.removed]: "removed", [CHANNEL_CLOSE.deleted]: "deleted", [CHANNEL_CLOSE.replaced]: "replaced" },
};

/** The node's own channel: handshake traffic, acknowledged by sequence number so none is lost. */
export const nodeProtocol: ChannelProtocol<NodeEvent> = {
  parse: parser(NodeEvent),
  hello: (e) => (e.type === "hello" ? { nodeId: e.node_id, revision: 0 } : undefined),
  ends: () => undefined,
  closeCodes: { [NODE_CHANNEL_CLOSE.deregistered]: "deregistered", [NODE_CHANNEL_CLOSE.replaced]: "replaced" },
  ack: (e) => ("seq" in e ? JSON.stringify({ type: "ack", seq: e.seq }) : undefined),
};

export interface ChannelOptions<E extends { type: string }> {
  /** ws(s):// URL of the channel. */
  url: string;
  protocol: ChannelProtocol<E>;
  /** A current node access token, fetched anew for each connection. */
  token: () => Promise<string>;
  /**
   * Handles an event. Events are handled one at a time, in order; on the node channel an event is
   * acknowledged only once its handler has finished, so a handler that throws (or a crash) gets
   * the event again on the next connection. Handlers must therefore be idempotent.
   */
  onEvent: (event: E) => void | Promise<void>;
  /**
   * Called on every hello: re-read the state (member list, pending requests). Events wait until it
   * settles; if it throws, the connection is dropped and made again, with backoff.
   */
  onResync?: (revision: number) => void | Promise<void>;
  /** Called once when the channel stops for good. */
  onEnd?: (why: ChannelEnd) => void;
  /** Called when an established connection is lost (a reconnect follows). */
  onDisconnect?: () => void;
  /** After a failed connection: whether the node is still a member (ends the channel if not). */
  stillMember?: () => Promise<boolean>;
  /** Whether an error from `token` means the node is gone for good. */
  isFatal?: (error: unknown) => boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  pingIntervalMs?: number;
}

export class LiveChannel<E extends { type: string }> {
  readonly #options: ChannelOptions<E>;
  #ws: WebSocket | undefined;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #keepAlive: KeepAlive | undefined;
  #ended = false;
  #connected = false;
  #self: number | undefined;
  /** Events held back while a resync runs; undefined when none is running. */
  #held: E[] | undefined;
  /** Handlers run one after another. */
  #handling: Promise<void> = Promise.resolve();
  /** The socket whose acks stopped after a handler failed: acks are cumulative, so none may follow. */
  #ackBlocked: WebSocket | undefined;

  constructor(options: ChannelOptions<E>) {
    this.#options = options;
  }

  /** Whether a socket is open and the state it announced has been resynchronised. */
  get connected(): boolean {
    return this.#connected;
  }

  start(): this {
    void this.#connect();
    return this;
  }

  close(): void {
    this.#end("closed");
  }

  /**
   * Checks the connection now instead of at the next keep-alive: the node's address changed, which
   * usually breaks its connections without either end knowing. No pong within `withinMs`, and the
   * connection is given up and made again at once, rather than up to two ping intervals later.
   */
  checkAlive(withinMs = 2000): void {
    this.#keepAlive?.check(withinMs);
  }

  async #connect(): Promise<void> {
    if (this.#ended) return;
    let token: string;
    try {
      token = await this.#options.token();
    } catch (e) {
      return this.#options.isFatal?.(e) ? this.#end("deregistered") : this.#retry();
    }
    if (this.#ended) return;
    const ws = openRegistrySocket(this.#options.url, token);
    this.#ws = ws;
    let gone = false;
    // A refused handshake may surface as an error without a close; handle whichever comes first.
    const lost = (code: number) => {
      if (gone) return;
      gone = true;
      if (this.#ws !== ws) return;
      if (this.#self !== undefined) this.#options.onDisconnect?.();
      this.#connected = false;
      this.#held = undefined;
      this.#keepAlive?.stop();
      const ended = this.#options.protocol.closeCodes[code];
      if (ended) return this.#end(ended);
      void this.#retry();
    };
    ws.addEventListener("message", (e) => this.#receive(ws, e.data, lost));
    ws.addEventListener("close", (e) => lost(e.code));
    ws.addEventListener("error", () => lost(1006));
  }

  #receive(ws: WebSocket, data: unknown, lost: (code: number) => void): void {
    if (typeof data !== "string") return;
    if (data === "pong") {
      this.#keepAlive?.pong();
      return;
    }
    const event = this.#options.protocol.parse(data);
    if (!event) return;
    const hello = this.#options.protocol.hello(event);
    if (hello) return this.#greeted(ws, event, hello, lost);
    if (this.#held) this.#held.push(event);
    else this.#dispatch(ws, event);
  }

  #greeted(ws: WebSocket, event: E, hello: { nodeId: number; revision: number }, lost: (code: number) => void): void {
    this.#self = hello.nodeId;
    this.#keepAlive?.stop();
    this.#keepAlive = new KeepAlive(ws, this.#options.pingIntervalMs ?? 20_000, () => lost(KEEP_ALIVE_TIMED_OUT));
    const held: E[] = [];
    this.#held = held;
    this.#dispatch(ws, event);
    this.#handling = this.#handling.then(async () => {
      try {
        await this.#options.onResync?.(hello.revision);
      } catch {
        // Events held meanwhile are dropped with the connection; the next hello resyncs past them.
        if (this.#held === held) {
          lost(RESYNC_FAILED);
          ws.close(RESYNC_FAILED, "resync failed");
        }
        return;
      }
      if (this.#held !== held) return;
      this.#failures = 0;
      this.#held = undefined;
      this.#connected = true;
      for (const e of held) this.#dispatch(ws, e);
    });
  }

  #dispatch(ws: WebSocket, event: E): void {
    this.#handling = this.#handling.then(async () => {
      if (this.#ended) return;
      try {
        await this.#options.onEvent(event);
      } catch {
        this.#ackBlocked = ws;
      }
      const ack = this.#options.protocol.ack?.(event);
      if (ack && this.#ackBlocked !== ws && ws.readyState === ws.OPEN) ws.send(ack);
      // The events themselves say the channel is over; the close frame that follows may lag behind proxies.
      const ended = this.#self === undefined ? undefined : this.#options.protocol.ends(event, this.#self);
      if (ended) this.#end(ended);
    });
  }

  async #retry(): Promise<void> {
    if (this.#ended) return;
    this.#failures++;
    if (this.#failures > 1 && this.#options.stillMember) {
      const member = await this.#options.stillMember().then(
        (yes) => yes,
        (e: unknown) => (this.#options.isFatal?.(e) ? null : true),
      );
      if (member === null) return this.#end("deregistered");
      if (!member) return this.#end("removed");
      if (this.#ended) return;
    }
    const delay = reconnectDelay(this.#failures, this.#options.initialBackoffMs ?? 500, this.#options.maxBackoffMs ?? 30_000);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  #end(why: ChannelEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#connected = false;
    this.#held = undefined;
    clearTimeout(this.#timer);
    this.#keepAlive?.stop();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && ws.readyState <= ws.OPEN) ws.close(1000, "closing");
    this.#options.onEnd?.(why);
  }
}
