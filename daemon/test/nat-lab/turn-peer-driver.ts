/** Drives `turn-peer.ts` in a namespace from a test: allocate through the registry's credentials, permit, bind, send, and what arrived. */
import { fileURLToPath } from "node:url";
import type { LineProcess } from "./command.ts";

const PROGRAM = fileURLToPath(new URL("./turn-peer.ts", import.meta.url));
/** A hang guard for one step (registration and credentials cross the registry; requests retransmit for up to 40 s). */
const STEP_MS = 60_000;

export interface TurnReceived {
  from: string;
  data: string;
  kind: "channel" | "indication";
}

type Event = {
  ready?: object;
  allocated?: { urls: string[]; relayed: string; mapped: string };
  permitted?: string;
  bound?: { peer: string; channel: number };
  sent?: { to: string; ok: boolean };
  received?: TurnReceived;
  error?: { code: string; message: string };
};

export class TurnPeer {
  readonly #process: LineProcess;
  /** Events of each kind consumed so far, so each command waits for its own answer. */
  #seen = new Map<keyof Event, number>();

  private constructor(process: LineProcess) {
    this.#process = process;
  }

  static async start(spawn: (argv: string[]) => LineProcess, registryUrl: string): Promise<TurnPeer> {
    const program = spawn([process.execPath, PROGRAM, registryUrl]);
    const peer = new TurnPeer(program);
    await peer.#next("ready", "the TURN program to bind");
    return peer;
  }

  #events(): Event[] {
    return this.#process.lines.map((l) => JSON.parse(l) as Event);
  }

  /** The next event of `key`, failing at once on an error event the program reports. */
  async #next<K extends keyof Event>(key: K, what: string): Promise<NonNullable<Event[K]>> {
    const n = this.#seen.get(key) ?? 0;
    const errors = this.#events().filter((e) => e.error).length;
    const found = await this.#process.waitFor<{ error: { code: string; message: string } } | { value: NonNullable<Event[K]> }>(
      (lines) => {
        const events = lines.map((l) => JSON.parse(l) as Event);
        const failed = events.filter((e) => e.error)[errors];
        if (failed) return { error: failed.error! };
        const ok = events.filter((e) => e[key] !== undefined)[n];
        return ok ? { value: ok[key]! } : undefined;
      },
      what,
      STEP_MS,
    );
    if ("error" in found) throw new Error(`${what}: ${found.error.code} ${found.error.message}`);
    this.#seen.set(key, n + 1);
    return found.value;
  }

  async allocate(): Promise<{ urls: string[]; relayed: string; mapped: string }> {
    this.#process.send(JSON.stringify({ allocate: true }));
    return this.#next("allocated", "credentials from the registry and an allocation");
  }

  async permit(ip: string): Promise<void> {
    this.#process.send(JSON.stringify({ permit: ip }));
    await this.#next("permitted", `a permission for ${ip}`);
  }

  async bind(peer: string): Promise<number> {
    this.#process.send(JSON.stringify({ bind: peer }));
    return (await this.#next("bound", `a channel to ${peer}`)).channel;
  }

  /** Sends through the relay; resolves with whether the client sent it. */
  async send(to: string, data: string): Promise<boolean> {
    this.#process.send(JSON.stringify({ send: { to, data } }));
    return (await this.#next("sent", `a send to ${to}`)).ok;
  }

  received(): TurnReceived[] {
    return this.#events().flatMap((e) => (e.received ? [e.received] : []));
  }

  waitForReceived(match: (r: TurnReceived) => boolean, what: string): Promise<TurnReceived> {
    return this.#process.waitFor(() => this.received().find(match), what, STEP_MS);
  }

  stop(): Promise<void> {
    return this.#process.stop();
  }
}
