/**
 * Round-trip time and the retransmission timeout, per RFC 6298: SRTT and RTTVAR with α = 1/8 and
 * β = 1/4, RTO = SRTT + max(G, 4·RTTVAR) + the peer's longest ACK delay (as QUIC's probe timeout
 * adds max_ack_delay: a lone segment's ACK may wait that long, and a timeout that counts on it
 * not waiting fires spuriously), 1 s before the first sample, doubled on each expiry.
 * The floor is 50 ms rather than the RFC's 1 s. The RFC's floor guards against receivers that
 * delay ACKs for up to 500 ms; ours delays one by at most 20 ms, so, as QUIC's probe timeout
 * does, the floor need only cover that. A 1 s (or Linux's 200 ms) floor stalls a lossy transfer
 * at every timeout: with 20 % loss, a 64 MiB transfer over loopback took 31 s with a 200 ms floor
 * and 4–7 s with this one. The path may ask for a higher floor (the relay does: tunnels.ts).
 */
import { DELAYED_ACK_MS } from "./receiver.ts";

export const INITIAL_RTO_MS = 1000;
export const MIN_RTO_MS = 50;
export const MAX_RTO_MS = 60_000;
const GRANULARITY_MS = 1;

export class RttEstimator {
  readonly #floorMs: () => number;
  srtt = 0;
  rttvar = 0;
  latest = 0;
  /** The least sample: no answer can come sooner than this after its segment went. */
  min = Infinity;
  #backoff = 1;

  /** `floorMs`: the least timeout, asked each time, since the path under a connection may change. */
  constructor(floorMs: () => number = () => MIN_RTO_MS) {
    this.#floorMs = floorMs;
  }

  get hasSample(): boolean {
    return this.srtt > 0;
  }

  sample(rtt: number): void {
    rtt = Math.max(rtt, 0.01);
    this.latest = rtt;
    this.min = Math.min(this.min, rtt);
    if (!this.hasSample) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
  }

  /** The current timeout, with any backoff applied. */
  get rto(): number {
    const base = this.hasSample ? this.srtt + Math.max(GRANULARITY_MS, 4 * this.rttvar) + DELAYED_ACK_MS : INITIAL_RTO_MS;
    return Math.min(MAX_RTO_MS, Math.max(this.#floorMs(), base) * this.#backoff);
  }

  /** The timer expired: the next timeout is twice as long (RFC 6298 §5.5). */
  backOff(): void {
    if (this.rto < MAX_RTO_MS) this.#backoff *= 2;
  }

  /** New data was acknowledged: the backoff ends. */
  resetBackoff(): void {
    this.#backoff = 1;
  }
}
