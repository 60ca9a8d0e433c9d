/**
 * The daemon's relay connection (docs/relay.md): a WebSocket to the node's own object in the
 * registry, over the registry's HTTPS origin, through which sealed tunnel frames reach peers that
 * no direct path reaches. The registry forwards frames between node IDs the privacy gate allows and
 * never sees inside them: the tunnel is end to end, the same as on a direct path.
 *
 * To the tunnel layer it behaves like a lossy datagram path, on purpose: frames sent while it is down,
 * or while the socket already holds more than it can drain, are dropped as a full UDP buffer drops
 * them, and the streams recover through their own congestion control. Frames sent in one turn of
 * the event loop go out together in one WebSocket message, and messages go out at most
 * MESSAGES_PER_SECOND: the registry counts (and bills) messages, not bytes, so under load frames
 * wait a moment to fill larger messages instead of each turn's few making one of their own.
 *
 * It reconnects with capped, jittered backoff, fetching a fresh token each time, and pings every
 * 20 s so a half-open connection is noticed.
 */
import { KEEP_ALIVE_TIMED_OUT, KeepAlive, openRegistrySocket, reconnectDelay, type WebSocket } from "./registry-socket.ts";
import { decodeRelayMessage, RELAY_CLOSE, RELAY_FRAME_HEADER_BYTES, RELAY_MAX_FRAME_BYTES, RELAY_MAX_MESSAGE_BYTES, TokenBucket } from "@pilot/protocol";

export interface RelayLinkOptions {
  /** ws(s):// URL of the relay route. */
  url: string;
  /** A current node access token, fetched anew for each connection. */
  token: () => Promise<string>;
  /** A frame from a peer; the registry vouches for `peer`, having authenticated its connection. */
  onFrame: (peer: number, frame: Buffer) => void;
  /** The connection came up or went down. */
  onState?: (up: boolean) => void;
  /** Whether an error from `token` means the node is gone for good. */
  isFatal?: (error: unknown) => boolean;
  log?: (line: string) => void;
  pingIntervalMs?: number;
}

/**
 * Messages a second, with a burst of MESSAGE_BURST: half the registry's budget of 1,000 batches a
 * second per sender (worker/relay/limits.ts), so it is never the registry that drops them. At 10 MB/s
 * that is 20 KB a message; an idle link sends each turn's frames at once.
 */
const MESSAGES_PER_SECOND = 500;
const MESSAGE_BURST = 50;
/** Bytes waiting in the socket beyond which frames are dropped: deeper queues only add delay. */
const MAX_BUFFERED_BYTES = 256 << 10;
/** The longest `close` waits for the registry to answer the socket's close. */
const CLOSE_WAIT_MS = 1000;
const INITIAL_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

interface Queued {
  peer: number;
  parts: readonly Buffer[];
  bytes: number;
}

export class RelayLink {
  readonly #o: RelayLinkOptions;
  #ws: WebSocket | undefined;
  #up = false;
  #ended = false;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #keepAlive: KeepAlive | undefined;
  /** Frames waiting for the end of this turn of the event loop, and their size as one message. */
  #batch: Queued[] = [];
  #batchBytes = 0;
  /** Messages that may go out. */
  readonly #messages = new TokenBucket(MESSAGE_BURST, MESSAGES_PER_SECOND);
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  /** Frames dropped: sent while the link could not take them, or arriving malformed (in `pilotctl info`'s packets.dropped). */
  dropped = 0;

  constructor(options: RelayLinkOptions) {
    this.#o = options;
  }

  /** Whether frames can go out now. */
  get up(): boolean {
    return this.#up;
  }

  start(): this {
    void this.#connect();
    return this;
  }

  /**
   * Closes for good. The frames batched so far still go, in one last message whatever the message
   * budget (a stopping daemon's RSTs are sent just before), ahead of the close; resolves once the
   * socket has closed, or after CLOSE_WAIT_MS. A socket that never opened carried nothing: it is
   * dropped at once (Node 22's WebSocket fires no close event for a connection that failed before
   * opening, which is most of the time while the registry is down). A second call waits for the first.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#ended = true;
    this.#flush();
    this.#down();
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = undefined;
    this.#closing = new Promise<void>((resolve) => {
      if (!ws) return resolve();
      if (ws.readyState !== ws.OPEN) {
        if (ws.readyState === ws.CONNECTING) ws.close();
        return resolve();
      }
      const done = () => {
        clearTimeout(wait);
        resolve();
      };
      const wait = setTimeout(done, CLOSE_WAIT_MS);
      ws.addEventListener("close", done, { once: true });
      ws.addEventListener("error", done, { once: true });
      ws.close(1000, "closing");
    });
    return this.#closing;
  }

  /** Checks the connection now (the node's address changed): see KeepAlive.check. */
  checkAlive(withinMs = 2000): void {
    this.#keepAlive?.check(withinMs);
  }

  /** Sends a frame to a peer through the relay, or drops it (returning false) when it cannot go now. */
  send(peer: number, frame: Buffer | readonly Buffer[]): boolean {
    const parts = Buffer.isBuffer(frame) ? [frame] : frame;
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    const ws = this.#ws;
    if (!this.#up || !ws || bytes === 0 || bytes > RELAY_MAX_FRAME_BYTES || ws.bufferedAmount + this.#batchBytes > MAX_BUFFERED_BYTES) {
      this.dropped++;
      return false;
    }
    if (this.#batchBytes + RELAY_FRAME_HEADER_BYTES + bytes > RELAY_MAX_MESSAGE_BYTES) this.#flush();
    if (this.#batch.length === 0) this.#scheduleFlush();
    this.#batch.push({ peer, parts, bytes });
    this.#batchBytes += RELAY_FRAME_HEADER_BYTES + bytes;
    return true;
  }

  /** At the end of this turn if a message may go now, else when the next may. */
  #scheduleFlush(): void {
    const wait = this.#messages.waitMs(1, performance.now());
    if (wait === 0) setImmediate(() => this.#flush());
    else this.#flushTimer = setTimeout(() => this.#flush(), wait);
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    const batch = this.#batch;
    if (batch.length === 0) return;
    // A batch cut short by its size goes at once: the bucket may run below zero, and the next waits longer.
    this.#messages.spend(1);
    const message = Buffer.allocUnsafe(this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    let at = 0;
    for (const { peer, parts, bytes } of batch) {
      message.writeUInt32BE(peer, at);
      message.writeUInt16BE(bytes, at + 4);
      at += RELAY_FRAME_HEADER_BYTES;
      for (const p of parts) at += p.copy(message, at);
    }
    const ws = this.#ws;
    if (this.#up && ws) ws.send(message);
    else this.dropped += batch.length;
  }

  async #connect(): Promise<void> {
    if (this.#ended) return;
    let token: string;
    try {
      token = await this.#o.token();
    } catch (e) {
      if (this.#o.isFatal?.(e)) return this.#stop("the node is no longer registered");
      return this.#retry();
    }
    if (this.#ended) return;
    const ws = openRegistrySocket(this.#o.url, token);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    let gone = false;
    const lost = (code: number) => {
      if (gone) return;
      gone = true;
      if (this.#ws !== ws) return;
      this.#down();
      if (code === RELAY_CLOSE.deregistered) return this.#stop("the node deregistered");
      if (code === RELAY_CLOSE.replaced) return this.#stop("another daemon with this node's identity took over its relay connection");
      void this.#retry();
    };
    ws.addEventListener("open", () => {
      if (this.#ws !== ws) return;
      this.#failures = 0;
      this.#up = true;
      this.#keepAlive = new KeepAlive(ws, this.#o.pingIntervalMs ?? 20_000, () => lost(KEEP_ALIVE_TIMED_OUT));
      this.#o.onState?.(true);
    });
    ws.addEventListener("message", (e) => this.#receive(e.data));
    ws.addEventListener("close", (e) => lost(e.code));
    ws.addEventListener("error", () => lost(1006));
  }

  #receive(data: unknown): void {
    if (typeof data === "string") {
      if (data === "pong") this.#keepAlive?.pong();
      return;
    }
    const frames = data instanceof ArrayBuffer ? relayedFrames(data) : undefined;
    if (!frames) return void this.dropped++;
    for (const { node, frame } of frames) this.#o.onFrame(node, frame);
  }

  #down(): void {
    this.#keepAlive?.stop();
    clearTimeout(this.#flushTimer);
    this.dropped += this.#batch.length;
    this.#batch = [];
    this.#batchBytes = 0;
    if (!this.#up) return;
    this.#up = false;
    this.#o.onState?.(false);
  }

  #retry(): void {
    if (this.#ended) return;
    this.#failures++;
    this.#timer = setTimeout(() => void this.#connect(), reconnectDelay(this.#failures, INITIAL_BACKOFF_MS, MAX_BACKOFF_MS));
    this.#timer.unref();
  }

  #stop(why: string): void {
    this.#o.log?.(`relay connection closed for good: ${why}`);
    void this.close();
  }
}

/**
 * The frames of a relay message, each copied into a buffer of its own: a small packet is opened in
 * place (crypto/session.ts), and a stream may hold it for a while, which a view would make hold the
 * whole message (up to RELAY_MAX_MESSAGE_BYTES) beyond what the receive budget counts. Undefined
 * for a malformed message.
 */
export function relayedFrames(message: ArrayBuffer): { node: number; frame: Buffer }[] | undefined {
  return decodeRelayMessage(new Uint8Array(message))?.map(({ node, frame }) => {
    // Not Buffer.from, whose copies of small frames share an 8 KiB pool with others.
    const own = Buffer.allocUnsafeSlow(frame.byteLength);
    own.set(frame);
    return { node, frame: own };
  });
}
