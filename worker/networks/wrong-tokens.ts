/** Wrong join tokens a network takes per minute before it refuses token joins for the rest of it. */
export const WRONG_TOKENS_PER_MINUTE = 20;

/** This minute's wrong join tokens, counted in the network object's memory. */
export class WrongTokens {
  #minute = 0;
  #count = 0;

  /** Whether this minute's allowance is spent; a new minute starts a new count. */
  spent(now = Date.now()): boolean {
    const minute = Math.floor(now / 60_000);
    if (this.#minute !== minute) {
      this.#minute = minute;
      this.#count = 0;
    }
    return this.#count >= WRONG_TOKENS_PER_MINUTE;
  }

  record(): void {
    this.#count++;
  }
}
