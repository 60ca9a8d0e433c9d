/**
 * One connection to a built-in service whose peer sends frames (frame-decoder.ts): the bytes are
 * decoded as they come and handled one frame event after another, each waiting for the one before
 * it (a save to disk, room in the frame budget). Bytes count as read, and the peer's window opens,
 * only once what they held has been handled: a service that is slow, or waits, slows its peer
 * instead of queueing without end. A frame begun and then left without a byte while the peer may
 * send (nothing of its is waiting here) resets the connection after `stallMs`: what the frame set
 * aside is for frames that arrive, not for headers sent alone.
 */
import type { FrameDecoder, FrameEvent } from "./frame-decoder.ts";
import { FRAME_STALL_MS } from "./frame-budget.ts";
import type { ServiceSession, ServiceStream } from "./hosting.ts";

export abstract class FramedSession<Head> implements ServiceSession {
  protected readonly stream: ServiceStream;
  readonly #decoder: FrameDecoder<Head>;
  /** Decoded events waiting their turn, each batch with the bytes it came from. */
  readonly #queue: { events: FrameEvent<Head>[]; bytes: number }[] = [];
  #running = false;
  #finished = false;
  #closed = false;
  #wake: (() => void) | null = null;
  readonly #stallMs: number;
  #stall: NodeJS.Timeout | undefined;

  constructor(stream: ServiceStream, decoder: FrameDecoder<Head>, stallMs = FRAME_STALL_MS) {
    this.stream = stream;
    this.#decoder = decoder;
    this.#stallMs = stallMs;
  }

  /** Handles one event; the next waits for it. */
  protected abstract handle(event: FrameEvent<Head>): void | Promise<void>;
  /** The peer ended its side and every event before has been handled; `between` says whether it ended between frames. */
  protected abstract ended(between: boolean): void | Promise<void>;
  /** The connection is over: give back what it holds. May come at any time, also while an event is being handled. */
  protected abstract release(): void;

  get isClosed(): boolean {
    return this.#closed;
  }

  data(chunk: Buffer): void {
    clearTimeout(this.#stall);
    this.#queue.push({ events: this.#decoder.push(chunk), bytes: chunk.length });
    void this.#run();
  }

  finish(): void {
    this.#finished = true;
    void this.#run();
  }

  drained(): void {
    this.#wake?.();
  }

  closed(): void {
    clearTimeout(this.#stall);
    this.#closed = true;
    this.#wake?.();
    this.release();
  }

  /** Resolves once the peer has fallen no more than `bytes` behind in reading what was sent it (or the connection is over). */
  protected async caughtUp(bytes: number): Promise<void> {
    while (this.stream.backlog > bytes && !this.#closed) await new Promise<void>((wake) => (this.#wake = wake));
    this.#wake = null;
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length && !this.#closed) {
        const { events, bytes } = this.#queue.shift()!;
        for (const event of events) {
          await this.handle(event);
          if (this.#closed) return;
        }
        this.stream.consumed(bytes);
      }
      if (this.#finished && !this.#closed) {
        this.#finished = false;
        await this.ended(this.#decoder.atBoundary);
      }
    } finally {
      this.#running = false;
      // Everything received is handled: if a frame is under way, it is the peer's turn.
      if (!this.#closed && !this.#queue.length && !this.#decoder.atBoundary) {
        clearTimeout(this.#stall);
        this.#stall = setTimeout(() => this.stream.reset(), this.#stallMs).unref();
      }
    }
  }
}
