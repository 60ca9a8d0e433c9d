/**
 * The registry's metrics: data points in Workers Analytics Engine, through the METRICS dataset
 * binding in wrangler.toml. Each point's first blob (and its index, the sampling key) names its
 * kind; the rest of its blobs and its doubles are laid out per kind below, and documented with
 * queries in docs/operations.md. The binding is optional: without it (a deployment that removed it,
 * a test's own env) every write is skipped, and the registry works the same.
 *
 * Writes never wait and never fail the caller: the runtime sends them after the invocation.
 */

/** Every kind of point, with its blobs after the kind and its doubles, in order. */
export interface MetricPoints {
  /** One API request: blobs method, route pattern (not the path), status class; doubles status, duration in ms. */
  request: { blobs: [method: string, route: string, statusClass: string]; doubles: [status: number, ms: number] };
  /** A node joined or left a network: blob how; doubles network ID, node ID. */
  membership: { blobs: [change: MembershipChange]; doubles: [networkId: number, nodeId: number] };
  /** A revocation's pushes all sent: blob its kind; doubles ms from the change's answer to the last push sent, nodes told. */
  revocation_fanout: { blobs: [revocationKind: string]; doubles: [ms: number, recipients: number] };
  /** Relayed bytes handed to a node's relay socket since the last point: doubles bytes, batches. */
  relay: { blobs: []; doubles: [bytes: number, batches: number] };
  /** A WebSocket opened or closed: blobs which (node channel, relay, network channel, console view), open or close; double sockets of that kind open in its object after. */
  channel: { blobs: [channel: ChannelKind, change: "open" | "close"]; doubles: [openInObject: number] };
}

export type MetricKind = keyof MetricPoints;
export type MembershipChange = "added" | "joined" | "invitation_accepted" | "removed" | "left" | "deregistered";
export type ChannelKind = "node" | "relay" | "network" | "console";

/** The binding as code sees it: absent unless wrangler.toml declares it. */
type MetricsBinding = { METRICS?: AnalyticsEngineDataset };

export interface Metrics {
  write<K extends MetricKind>(kind: K, blobs: MetricPoints[K]["blobs"], doubles: MetricPoints[K]["doubles"]): void;
}

/** Writes to the env's dataset as it is at each write (an object keeps its env for its life). */
export const metrics = (env: object): Metrics => ({
  write: (kind, blobs, doubles) => (env as MetricsBinding).METRICS?.writeDataPoint({ indexes: [kind], blobs: [kind, ...blobs], doubles: [...doubles] }),
});

/** The status class a status falls in, as the request points record it ("2xx", "4xx", …). */
export const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

/**
 * Relayed bytes add up in the node's object and go out as one point a minute at most, so a busy
 * relay costs a point a minute, not one per batch. (An object that hibernates loses the tally since
 * its last point: a relay that idles long enough to hibernate has little to lose.)
 */
export class RelayTally {
  static readonly INTERVAL_MS = 60_000;
  #bytes = 0;
  #batches = 0;
  #since: number | null = null;

  constructor(readonly metrics: Metrics) {}

  add(bytes: number, now: number): void {
    this.#bytes += bytes;
    this.#batches += 1;
    this.#since ??= now;
    if (now - this.#since >= RelayTally.INTERVAL_MS) this.flush();
  }

  flush(): void {
    if (this.#batches > 0) this.metrics.write("relay", [], [this.#bytes, this.#batches]);
    this.#bytes = 0;
    this.#batches = 0;
    this.#since = null;
  }
}
