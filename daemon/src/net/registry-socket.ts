/** What the daemon's WebSockets to the registry (its channels, its relay connection) share. */
import { createRequire } from "node:module";
import type { WebSocket } from "undici";

export type { WebSocket };

/**
 * Node's WebSocket client, which is undici's. Node 22 has it built in; Node 20 has it only behind a
 * flag, so there it comes from the undici package (a dependency, loaded only then). A synchronous
 * require, not a top-level await, so that programs may still require() the SDK.
 */
const WebSocketClient: typeof WebSocket = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket ?? createRequire(import.meta.url)("undici").WebSocket;

/** Opens a WebSocket to the registry with the node's access token. */
export function openRegistrySocket(url: string, token: string): WebSocket {
  // undici's WebSocket takes headers, which keeps the token out of the URL and its logs.
  return new WebSocketClient(url, { headers: { authorization: `Bearer ${token}` } });
}

/**
 * The wait before reconnecting after `failures` failures in a row: doubling from `initialMs` up to
 * `maxMs`, half of it random, so daemons that lost the registry together do not return together.
 */
export function reconnectDelay(failures: number, initialMs: number, maxMs: number): number {
  const delay = Math.min(maxMs, initialMs * 2 ** (failures - 1));
  return delay / 2 + Math.random() * (delay / 2);
}

/** Closes this side uses: no pong since the last ping. */
export const KEEP_ALIVE_TIMED_OUT = 4000;

/**
 * Pings a registry socket every `intervalMs` (the registry answers "ping" with "pong" without waking
 * its object). No pong by the next ping and the connection is dead even if the socket does not know
 * it: `lost` runs, and the socket is closed without waiting for a closing handshake that a dead
 * peer would never finish.
 */
export class KeepAlive {
  readonly #ws: WebSocket;
  readonly #lost: () => void;
  readonly #timer: ReturnType<typeof setInterval>;
  #awaiting = false;
  #stopped = false;

  constructor(ws: WebSocket, intervalMs: number, lost: () => void) {
    this.#ws = ws;
    this.#lost = lost;
    this.#timer = setInterval(() => (this.#awaiting ? this.#giveUp() : this.#ping()), intervalMs);
    this.#timer.unref();
  }

  /** A pong arrived. */
  pong(): void {
    this.#awaiting = false;
  }

  /**
   * Checks the connection now instead of at the next ping: the node's address changed, which
   * usually breaks its connections without either end knowing. No pong within `withinMs`, and the
   * connection is given up at once, rather than up to two ping intervals later.
   */
  check(withinMs: number): void {
    if (this.#stopped || this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ping();
    setTimeout(() => this.#awaiting && this.#giveUp(), withinMs).unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  #ping(): void {
    this.#awaiting = true;
    this.#ws.send("ping");
  }

  #giveUp(): void {
    if (this.#stopped) return;
    this.stop();
    this.#lost();
    this.#ws.close(KEEP_ALIVE_TIMED_OUT, "keep-alive timed out");
  }
}
