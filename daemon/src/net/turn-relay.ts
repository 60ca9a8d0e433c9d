/**
 * This node's TURN allocation (docs/turn.md), when the registry's operator configured a TURN
 * service: a relayed address on the TURN server that the node reports as one more candidate. A peer
 * that can send UDP anywhere reaches the node there, whatever the node's NAT does, and the node
 * answers through the server. It is tried after the direct candidates and before the WebSocket relay
 * (docs/relay.md): UDP through TURN costs less than frames through the registry's objects.
 *
 * The allocation shares the data plane's socket (net/turn/client.ts is fed what comes from the
 * server). It is made again before its credentials expire, and after a loss, with backoff. A
 * registry without TURN answers turn_not_configured, and the node simply has no relayed address.
 */
import { lookup } from "node:dns/promises";
import { isIPv4 } from "node:net";
import { isPrivateIPv4, parseTurnUrl, type TurnCredentials } from "@pilot/protocol";
import type { Endpoint } from "./candidates.ts";
import { TurnClient } from "./turn/client.ts";

export interface TurnRelayOptions {
  /** Fresh credentials from the registry; rejects with code turn_not_configured when it has no TURN service. */
  credentials: () => Promise<TurnCredentials>;
  send: (bytes: Buffer, host: string, port: number) => void;
  /** A frame a peer sent to our relayed address. */
  onData: (from: Endpoint, frame: Buffer) => void;
  /** The relayed address changed (null: none now). */
  onChange: (relayed: Endpoint | null) => void;
  log: (line: string) => void;
}

/** A new allocation is made this long before the credentials of the current one expire. */
const RENEW_BEFORE_MS = 120_000;
const RETRY_FIRST_MS = 10_000;
const RETRY_MAX_MS = 300_000;
/**
 * Bytes TURN adds to a frame on the leg between the server and the node that allocated: a Send or
 * Data indication's header and attributes (36) and padding (up to 3). Segments leave room for it.
 */
export const TURN_OVERHEAD_BYTES = 40;

export class TurnRelay {
  readonly #o: TurnRelayOptions;
  #client: TurnClient | undefined;
  /** The client allocating, until it holds its allocation: the server's answers must reach it too. */
  #allocating: TurnClient | undefined;
  #relayed: Endpoint | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #stopped = false;
  /** Peers whose channel binding has been asked for: frames to them go as 4-byte ChannelData once bound. */
  readonly #binding = new Set<string>();

  constructor(options: TurnRelayOptions) {
    this.#o = options;
  }

  /** What TURN adds to a frame, while this node holds an allocation. */
  get overheadBytes(): number {
    return this.#client?.allocation ? TURN_OVERHEAD_BYTES : 0;
  }

  /** This node's relayed address, while it holds an allocation. */
  get relayed(): Endpoint | null {
    return this.#relayed;
  }

  /** Makes the first allocation; resolves once it is made or has failed (never rejects). */
  async start(): Promise<void> {
    await this.#allocate();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    void this.#client?.close();
    this.#client = undefined;
  }

  /** Whether `address` is the TURN server's: a peer's candidate there is that peer's relayed address. */
  isServer(address: string): boolean {
    return this.#client?.server?.host === address;
  }

  /** Takes a datagram from the data plane's socket if it came from the TURN server. */
  receive(msg: Buffer, from: Endpoint): boolean {
    for (const client of [this.#client, this.#allocating]) {
      const server = client?.server;
      if (server && from.port === server.port && from.address === server.host && client.receive(msg)) return true;
    }
    return false;
  }

  /** Lets a peer's datagrams to our relayed address through (public IPv4 only: the server reaches nothing else). */
  permit(address: string): void {
    const client = this.#client;
    if (!client?.allocation || !isIPv4(address) || isPrivateIPv4(address)) return;
    try {
      void client.permit(address).catch(() => undefined);
    } catch {
      // At the cap of permissions: this peer goes by the WebSocket relay instead.
    }
  }

  /** Sends a frame to a peer from our relayed address; false when the allocation cannot carry it now. */
  send(peer: Endpoint, frame: Buffer | readonly Buffer[]): boolean {
    const client = this.#client;
    if (!client?.allocation) return false;
    const key = `${peer.address}:${peer.port}`;
    if (!this.#binding.has(key)) {
      this.#binding.add(key);
      try {
        void client.bind(peer).catch(() => this.#binding.delete(key));
      } catch {
        // At the cap of channels: Send indications still carry it, and a later frame asks again.
        this.#binding.delete(key);
      }
    }
    return client.send(peer, Buffer.isBuffer(frame) ? frame : Buffer.concat(frame as Buffer[]));
  }

  async #allocate(): Promise<void> {
    if (this.#stopped) return;
    const client = new TurnClient({ send: this.#o.send });
    this.#allocating = client;
    try {
      const credentials = await this.#o.credentials();
      const url = credentials.urls.map(parseTurnUrl).find((u) => u !== undefined);
      if (!url) throw new Error(`none of the TURN URLs is usable: ${credentials.urls.join(", ")}`);
      const host = isIPv4(url.host) ? url.host : (await lookup(url.host, { family: 4 })).address;
      const allocation = await client.allocate({ host, port: url.port }, credentials.username, credentials.credential);
      if (this.#stopped) return void client.close();
      const old = this.#client;
      this.#client = client;
      this.#binding.clear();
      client.onData((peer, bytes) => this.#o.onData({ address: peer.address, port: peer.port }, bytes));
      client.onClose((error) => error && this.#client === client && this.#lost(`the TURN allocation was lost: ${error.message}`));
      void old?.close();
      this.#failures = 0;
      this.#relayed = { address: allocation.relayed.address, port: allocation.relayed.port };
      this.#o.onChange(this.#relayed);
      this.#o.log(`TURN relayed address ${allocation.relayed.address}:${allocation.relayed.port} on ${host}:${url.port}`);
      const renewIn = Math.max(30_000, Date.parse(credentials.expires_at) - Date.now() - RENEW_BEFORE_MS);
      this.#schedule(renewIn);
    } catch (e) {
      void client.close();
      if ((e as { code?: string }).code !== "turn_not_configured") this.#lost(`could not allocate on the TURN server: ${(e as Error).message}`);
    } finally {
      if (this.#allocating === client) this.#allocating = undefined;
    }
  }

  #lost(why: string): void {
    if (this.#stopped) return;
    this.#o.log(`${why}; the WebSocket relay carries what direct paths cannot meanwhile`);
    if (this.#relayed) {
      this.#relayed = null;
      this.#o.onChange(null);
    }
    this.#failures++;
    this.#schedule(Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1)));
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#allocate(), ms);
    this.#timer.unref();
  }
}
