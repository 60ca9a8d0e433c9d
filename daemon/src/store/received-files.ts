/**
 * ~/.pilot/received: the files peers sent to the data exchange service (port 1001), under the names
 * they gave (checked by `readFileName` in services/data-frames.ts: a plain name, never a path).
 * A name already taken is never replaced: the new file becomes `name-1.ext`, `name-2.ext`, ….
 */
import { CappedDir, numbered, type Draft, type DirLimits, type Entry } from "./capped-dir.ts";

/**
 * 1,000 files and 1 GiB: sixty-four files of the largest size a frame holds, while a peer that
 * sends without end can take no more of the disk than that.
 */
export const RECEIVED_LIMITS: DirLimits = { bytes: 1 << 30, files: 1000 };

export class ReceivedFiles {
  readonly #dir: CappedDir;

  constructor(dir: string, limits: DirLimits = RECEIVED_LIMITS) {
    this.#dir = new CappedDir(dir, limits, { what: "the received files", fullCode: "received_full", clearWith: "pilotctl received --clear" });
  }

  get dir(): string {
    return this.#dir.dir;
  }

  /** Sets aside room for a file of `bytes` and opens it for writing. */
  begin(bytes: number): Promise<Draft> {
    return this.#dir.begin(bytes);
  }

  /** Links a written file under `name`, or the first free name after it; returns the name. */
  keep(draft: Draft, name: string): Promise<string> {
    return draft.commit(numbered(name, this.#dir.limits.files + 1));
  }

  list(): Entry[] {
    return this.#dir.list();
  }

  clear(): number {
    return this.#dir.clear();
  }
}
