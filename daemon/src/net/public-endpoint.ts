/**
 * The node's public endpoint as STUN servers see it, kept fresh. Asking again every 25 s keeps the
 * NAT's mapping alive (common UDP mapping timeouts are 30 s and up) and notices when it changes
 * (a new network, a router that renumbered, a laptop that slept), so the daemon can re-report and
 * re-punch. Asking a second server too tells what kind of NAT the node is behind.
 */
import type { Socket } from "node:dgram";
import { natBehaviour, sameEndpoint, type Endpoint, type NatBehaviour } from "./candidates.ts";
import { parseHostPort, type HostPort } from "./host-port.ts";
import { queryStun } from "./stun-client.ts";

/** Well inside the 30 s that Linux and many home routers give an idle UDP mapping. */
export const STUN_REFRESH_MS = 25_000;

/** How long past the first server's answer the second one is waited for. */
const SECOND_SERVER_GRACE_MS = 500;

/** `host:port`, or two of them separated by a comma (the second tells the NAT's behaviour), or "off". */
export function stunServers(setting: string): HostPort[] {
  return setting === "off" ? [] : setting.split(",").slice(0, 2).map((s) => parseHostPort(s.trim()));
}

export interface PublicEndpointOptions {
  socket: Socket;
  servers: HostPort[];
  /** Host candidates, to tell a public address from a NAT's mapping. */
  hosts: () => readonly Endpoint[];
  /** Called when a refresh finds a different mapping than the last one (not on the first). */
  onChange: (endpoint: Endpoint) => void;
  timeoutMs?: number;
}

export class PublicEndpoint {
  readonly #o: PublicEndpointOptions;
  /** STUN answers for queries under way, by whoever asked. */
  readonly #listeners = new Set<(msg: Buffer) => void>();
  #endpoint: Endpoint | null = null;
  #nat: NatBehaviour = "unknown";
  #status: "ok" | "unreachable" | "off";
  #refreshing: Promise<Endpoint | null> | undefined;
  #refreshedAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: PublicEndpointOptions) {
    this.#o = options;
    this.#status = options.servers.length === 0 ? "off" : "unreachable";
  }

  get endpoint(): Endpoint | null {
    return this.#endpoint;
  }

  get nat(): NatBehaviour {
    return this.#nat;
  }

  get status(): "ok" | "unreachable" | "off" {
    return this.#status;
  }

  /** STUN datagrams from the data plane's socket. */
  receive(msg: Buffer): void {
    for (const listener of this.#listeners) listener(msg);
  }

  /** Refreshes every STUN_REFRESH_MS until stopped. */
  keepFresh(): void {
    if (this.#o.servers.length === 0) return;
    this.#timer = setInterval(() => void this.refresh(), STUN_REFRESH_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Asks the servers again, unless an answer is under way or came within `maxAgeMs`; a path that
   * stalls asks for this, since a changed mapping is the likeliest reason.
   */
  refresh(maxAgeMs = 0): Promise<Endpoint | null> {
    if (this.#o.servers.length === 0) return Promise.resolve(null);
    if (this.#refreshing) return this.#refreshing;
    if (maxAgeMs > 0 && performance.now() - this.#refreshedAt < maxAgeMs) return Promise.resolve(this.#endpoint);
    this.#refreshing = this.#ask().finally(() => {
      this.#refreshing = undefined;
      this.#refreshedAt = performance.now();
    });
    return this.#refreshing;
  }

  async #ask(): Promise<Endpoint | null> {
    const [primary, secondary] = this.#o.servers.map((server) => this.#query(server));
    const first = await primary!;
    this.#status = first ? "ok" : "unreachable";
    // A lost answer is no news: the last mapping stands until a server says otherwise.
    if (!first) return this.#endpoint;
    // The second server only tells the NAT's kind: nobody waits long for it.
    const second = secondary ? await Promise.race([secondary, new Promise<null>((r) => setTimeout(r, SECOND_SERVER_GRACE_MS, null))]) : null;
    if (second || this.#nat === "unknown") this.#nat = natBehaviour(this.#o.hosts(), first, second);
    const before = this.#endpoint;
    this.#endpoint = first;
    if (this.#refreshedAt > 0 && (!before || !sameEndpoint(before, first))) this.#o.onChange(first);
    return first;
  }

  async #query(server: HostPort): Promise<Endpoint | null> {
    const query = queryStun(this.#o.socket, server, this.#o.timeoutMs);
    this.#listeners.add(query.onDatagram);
    try {
      const mapped = await query.result;
      // The data plane's socket is IPv4: an IPv6 mapping would be another socket's.
      return mapped && mapped.family === 4 ? { address: mapped.address, port: mapped.port } : null;
    } finally {
      this.#listeners.delete(query.onDatagram);
    }
  }
}
