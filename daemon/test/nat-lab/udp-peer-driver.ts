/** Drives `udp-peer.ts` in a namespace from a test: STUN queries, bursts, and what it received. */
import { fileURLToPath } from "node:url";
import type { LineProcess } from "./command.ts";

const PROGRAM = fileURLToPath(new URL("./udp-peer.ts", import.meta.url));
/** A hang guard for one step of the program (a STUN query retries for 5 s at most). */
const STEP_MS = 30_000;

export interface Mapping {
  address: string;
  port: number;
}

export interface Received {
  from: string;
  data: string;
}

type Event = { ready?: { port: number }; mapped?: { server: string; address: string | null; port: number | null }; sent?: unknown; received?: Received };

const events = (lines: readonly string[]): Event[] => lines.map((l) => JSON.parse(l) as Event);

export class UdpPeer {
  readonly port: number;
  readonly #process: LineProcess;
  #stuns = 0;
  #bursts = 0;

  private constructor(process: LineProcess, port: number) {
    this.#process = process;
    this.port = port;
  }

  /** Starts the program with `spawn` (in an agent's namespace), bound to `bindAddress` on a free port. */
  static async start(spawn: (argv: string[]) => LineProcess, bindAddress: string, options: { reply?: boolean } = {}): Promise<UdpPeer> {
    const program = spawn([process.execPath, PROGRAM, bindAddress, ...(options.reply ? ["--reply"] : [])]);
    const port = await program.waitFor((lines) => events(lines).find((e) => e.ready)?.ready?.port, "the UDP program to bind", STEP_MS);
    return new UdpPeer(program, port);
  }

  /** This socket's public mapping as the STUN server at `server` sees it; null if it did not answer. */
  async stun(server: string): Promise<Mapping | null> {
    const n = this.#stuns++;
    this.#process.send(JSON.stringify({ stun: server }));
    const mapped = await this.#process.waitFor((lines) => events(lines).filter((e) => e.mapped)[n]?.mapped, `an answer from STUN server ${server}`, STEP_MS);
    return mapped.address === null ? null : { address: mapped.address, port: mapped.port! };
  }

  /**
   * Sends `count` datagrams of `data` to `to`, `intervalMs` apart; resolves once all are sent, or
   * with `untilHeard`, once a datagram from `to` has arrived (a hole punch stops there).
   */
  async send(to: string, data: string | Buffer, options: { count?: number; intervalMs?: number; untilHeard?: boolean } = {}): Promise<void> {
    const { count = 1, intervalMs = 0, untilHeard = false } = options;
    const n = this.#bursts++;
    const payload = typeof data === "string" ? { data } : { data: data.toString("hex"), hex: true };
    this.#process.send(JSON.stringify({ send: { to, ...payload, count, intervalMs, untilHeard } }));
    await this.#process.waitFor((lines) => (events(lines).filter((e) => e.sent).length > n ? true : undefined), `a burst to ${to} to be sent`, STEP_MS + count * intervalMs);
  }

  /** Every datagram received so far, apart from STUN answers. */
  received(): Received[] {
    return events(this.#process.lines).flatMap((e) => (e.received ? [e.received] : []));
  }

  /** Resolves with the first datagram received that `match` accepts. */
  waitForReceived(match: (r: Received) => boolean, what: string, timeoutMs = STEP_MS): Promise<Received> {
    return this.#process.waitFor(() => this.received().find(match), what, timeoutMs);
  }

  stop(): Promise<void> {
    return this.#process.stop();
  }
}
