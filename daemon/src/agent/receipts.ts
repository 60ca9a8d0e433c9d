/**
 * Revocation receipts: once this daemon has cut a peer off for a revocation (a removal from a
 * network, an untrust), or enforces a network's changed port policy, it tells the registry so, signed with its identity key. The registry's list
 * of what this node has not confirmed is the state; each cut-off, and each resync, is a reason to
 * read it again and confirm what has been done. Whether a cut is done is asked of the daemon
 * (`done`), never assumed from an event, so a receipt is sent only once the peer no longer reaches
 * this node through what was revoked.
 *
 * Passes run one at a time, and a pass asked for while one runs runs after it, so a pass that
 * follows a cut-off always reads the list after that cut-off. A pass the registry could not answer
 * fails (a network's resync waits on it: see memberships.ts) and the quiet trigger retries it.
 */
import type { PendingCut } from "@pilot/protocol";
import { RegistryError, type RegistryClient } from "../registry-client.ts";

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

export interface ReceiptsHost {
  readonly registry: Pick<RegistryClient, "pendingCuts" | "confirmCut">;
  nodeId(): number;
  /** Whether this node has done its part: the peer no longer reaches it through what was revoked. */
  done(cut: PendingCut): boolean;
  log(line: string): void;
}

/** An answer about the receipt itself (refused, or for a revocation gone with its network): retrying changes nothing. */
const settled = (e: unknown) => e instanceof RegistryError && e.status >= 400 && e.status < 500 && e.code !== "rate_limited" && e.code !== "token_expired";

export class Receipts {
  readonly #host: ReceiptsHost;
  #waiting: Promise<void> | undefined;
  #last: Promise<void> = Promise.resolve();
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(host: ReceiptsHost) {
    this.#host = host;
  }

  /** Confirms every cut-off done and not yet confirmed; rejects if the registry could not be asked. */
  confirm(): Promise<void> {
    if (this.#waiting) return this.#waiting;
    const run = this.#last.then(
      () => this.#pass(),
      () => this.#pass(),
    );
    this.#waiting = run;
    this.#last = run;
    return run;
  }

  /** The same, for a cut-off made now: a failure is logged and tried again later on its own. */
  confirmLater(): void {
    this.confirm().then(
      () => (this.#failures = 0),
      (e: unknown) => {
        this.#host.log(`could not confirm cut-offs to the registry (trying again): ${String(e)}`);
        this.#retryLater();
      },
    );
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
  }

  async #pass(): Promise<void> {
    this.#waiting = undefined;
    if (this.#closed) return;
    const pending = await this.#host.registry.pendingCuts();
    // Whatever `done` finds done now was cut off by this moment.
    const cutAt = new Date().toISOString();
    for (const cut of pending.filter((c) => this.#host.done(c))) {
      try {
        await this.#host.registry.confirmCut(cut, this.#host.nodeId(), cutAt);
      } catch (e) {
        if (!settled(e)) throw e;
        this.#host.log(`the registry refused the receipt for revocation ${cut.revocation_id}: ${String(e)}`);
      }
    }
  }

  #retryLater(): void {
    if (this.#closed || this.#retry) return;
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#failures++);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.confirmLater();
    }, delay);
    this.#retry.unref?.();
  }
}
