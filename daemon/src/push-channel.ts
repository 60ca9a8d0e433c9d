/**
 * A node's push channel to one network: a WebSocket to the network's Durable Object that the
 * registry uses to announce membership changes. It reconnects with capped, jittered exponential
 * backoff, and after every (re)connect asks its owner to resynchronise, since events sent while it
 * was away are not replayed. It ends for good when the node is removed or the network deleted.
 */
import { CHANNEL_CLOSE, PushEvent } from "./protocol/index.ts";

export type ChannelEnd = "removed" | "deleted" | "closed";

export interface PushChannelOptions {
  /** ws(s):// URL of the channel. */
  url: string;
  /** A current node access token, fetched anew for each connection. */
  token: () => Promise<string>;
  onEvent: (event: PushEvent) => void;
  /** Called on every hello: re-read the member list; events may have been missed. */
  onResync?: (revision: number) => void | Promise<void>;
  /** Called once when the channel stops for good. */
  onEnd?: (why: ChannelEnd) => void;
  /** After a failed connection: whether the node is still a member (ends the channel if not). */
  stillMember?: () => Promise<boolean>;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class PushChannel {
  readonly #options: PushChannelOptions;
  #ws: WebSocket | undefined;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;
  #connected = false;
  #self: number | undefined;

  constructor(options: PushChannelOptions) {
    this.#options = options;
  }

  /** Whether a socket is open and greeted now. */
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

  async #connect(): Promise<void> {
    if (this.#ended) return;
    let token: string;
    try {
      token = await this.#options.token();
    } catch {
      return this.#retry();
    }
    if (this.#ended) return;
    // Node's WebSocket (undici) takes headers, which keeps the token out of the URL and its logs.
    const ws = new WebSocket(this.#options.url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
    this.#ws = ws;
    let gone = false;
    // A refused handshake may surface as an error without a close; handle whichever comes first.
    const lost = (code: number) => {
      if (gone) return;
      gone = true;
      this.#connected = false;
      if (this.#ws !== ws) return;
      if (code === CHANNEL_CLOSE.removed) return this.#end("removed");
      if (code === CHANNEL_CLOSE.deleted) return this.#end("deleted");
      void this.#retry();
    };
    ws.addEventListener("message", (e) => this.#receive(e.data));
    ws.addEventListener("close", (e) => lost(e.code));
    ws.addEventListener("error", () => lost(1006));
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") return;
    let parsed;
    try {
      parsed = PushEvent.safeParse(JSON.parse(data));
    } catch {
      return;
    }
    if (!parsed.success) return;
    const event = parsed.data;
    if (event.type === "hello") {
      this.#failures = 0;
      this.#connected = true;
      this.#self = event.node_id;
      void this.#options.onResync?.(event.revision);
    }
    this.#options.onEvent(event);
    // The events themselves say the channel is over; the close frame that follows may lag behind proxies.
    if (event.type === "member_removed" && event.node_id === this.#self) this.#end("removed");
    if (event.type === "network_deleted") this.#end("deleted");
  }

  async #retry(): Promise<void> {
    if (this.#ended) return;
    this.#failures++;
    if (this.#failures > 1 && this.#options.stillMember && !(await this.#options.stillMember().catch(() => true))) {
      return this.#end("removed");
    }
    const base = this.#options.initialBackoffMs ?? 500;
    const cap = this.#options.maxBackoffMs ?? 30_000;
    const delay = Math.min(cap, base * 2 ** (this.#failures - 1));
    this.#timer = setTimeout(() => void this.#connect(), delay / 2 + Math.random() * (delay / 2));
  }

  #end(why: ChannelEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#connected = false;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "closing");
    this.#options.onEnd?.(why);
  }
}
