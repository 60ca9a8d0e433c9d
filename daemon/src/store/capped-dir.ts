/**
 * A directory under the Pilot home that peers fill: inbox/ and received/. What they send is
 * written to a hidden temporary file (mode 0600, created afresh, never through a link), synced,
 * then linked under its name, which never replaces anything: a name taken, even by a dangling
 * link, moves on to the next. And the directory holds at most so many bytes and files, so a peer
 * cannot fill the disk: room is set aside before a byte is written, and a file that would not fit
 * is refused whole.
 *
 * The counts are kept as files are added, and read again from the directory when a file would not
 * fit and the directory may have changed since they were last read: the owner may have cleared it.
 */
import { randomBytes } from "node:crypto";
import { constants, lstatSync, mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { link, open, unlink, type FileHandle } from "node:fs/promises";
import { extname, join } from "node:path";
import { PilotError } from "../errors.ts";
import { checkOwned } from "./home.ts";

export interface DirLimits {
  bytes: number;
  files: number;
}

/** A file listed in a capped directory. */
export interface Entry {
  name: string;
  bytes: number;
  modified: string;
  path: string;
}

const TEMP_SUFFIX = ".part";
/**
 * A directory's change time is only as fine as its file system keeps it (a clock tick; whole
 * seconds on some), and a change in the same tick as a count leaves it as it was: CI once saw an
 * inbox cleared right after it was counted stay full. So an unchanged time is believed only of a
 * count made this long after the change it shows.
 */
const CTIME_GRAIN_MS = 2_000;

/** How a directory is named in messages ("the inbox"), the code of a refusal when it is full, and how to make room. */
export interface DirNames {
  what: string;
  fullCode: string;
  clearWith: string;
}

export class CappedDir {
  readonly dir: string;
  readonly limits: DirLimits;
  readonly #names: DirNames;
  #counted: { bytes: number; files: number } | undefined;
  /** The directory's change time when it was last counted, and whether that count is sure to have seen every change up to it. */
  #countedAt = -1;
  #countSure = false;
  #reserved = { bytes: 0, files: 0 };

  constructor(dir: string, limits: DirLimits, names: DirNames) {
    this.dir = dir;
    this.limits = limits;
    this.#names = names;
  }

  /**
   * Sets aside room for a file of `bytes` and opens its temporary file; throws `<fullCode>` if the
   * directory is full, or `insecure_file` if it is not this user's own private directory.
   */
  async begin(bytes: number): Promise<Draft> {
    this.#ensure();
    const problem = this.#room(bytes);
    if (problem) throw new PilotError(this.#names.fullCode, problem, `its owner can make room with ${this.#names.clearWith}`);
    this.#reserved.bytes += bytes;
    this.#reserved.files++;
    let released = false;
    const release = (kept: number | null) => {
      if (released) return;
      released = true;
      this.#reserved.bytes -= bytes;
      this.#reserved.files--;
      if (kept !== null && this.#counted) {
        this.#counted.bytes += kept;
        this.#counted.files++;
      }
    };
    const temp = join(this.dir, `.${randomBytes(8).toString("hex")}${TEMP_SUFFIX}`);
    let handle: FileHandle;
    try {
      handle = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      release(null);
      throw saveFailed(e);
    }
    return new Draft(this.dir, temp, handle, bytes, release);
  }

  /** The visible regular files, oldest first: not links, not temporary files, not directories. */
  list(): Entry[] {
    if (!this.#check()) return [];
    return this.#entries()
      .sort((a, b) => a.stats.mtimeMs - b.stats.mtimeMs || (a.name < b.name ? -1 : 1))
      .map(({ name, stats }) => ({ name, bytes: stats.size, modified: stats.mtime.toISOString(), path: join(this.dir, name) }));
  }

  /** Removes the visible regular files (a file being received is left alone); returns how many. */
  clear(): number {
    if (!this.#check()) return 0;
    let removed = 0;
    for (const { name } of this.#entries()) {
      try {
        unlinkSync(join(this.dir, name));
        removed++;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
    }
    return removed;
  }

  /** Why a file of `bytes` does not fit, or null. */
  #room(bytes: number): string | null {
    const problem = () => {
      const used = this.#counted!;
      const [b, f] = [used.bytes + this.#reserved.bytes, used.files + this.#reserved.files];
      if (f + 1 > this.limits.files) return `${this.#names.what} holds ${this.limits.files} files already, its limit`;
      if (b + bytes > this.limits.bytes) return `${this.#names.what} has ${Math.max(0, this.limits.bytes - b)} of its ${this.limits.bytes} bytes free, not ${bytes}`;
      return null;
    };
    if (!this.#counted) this.#count();
    const first = problem();
    if (!first || (this.#countSure && statSync(this.dir).ctimeMs === this.#countedAt)) return first;
    this.#count();
    return problem();
  }

  /**
   * Whether the directory exists; refuses one that is a link (listing or clearing it would reach
   * wherever it points), another user's, or writable by others.
   */
  #check(): boolean {
    let stats;
    try {
      stats = lstatSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
    if (!stats.isDirectory()) {
      throw new PilotError("insecure_file", `${this.#names.what} at ${this.dir} is not a directory${stats.isSymbolicLink() ? " but a symbolic link" : ""}`, `remove it (rm ${this.dir}); the daemon makes the directory afresh`);
    }
    checkOwned(stats, this.dir, this.#names.what);
    return true;
  }

  #count(): void {
    this.#countedAt = statSync(this.dir).ctimeMs;
    this.#countSure = Date.now() - this.#countedAt > CTIME_GRAIN_MS;
    const entries = this.#entries();
    this.#counted = { bytes: entries.reduce((sum, e) => sum + e.stats.size, 0), files: entries.length };
  }

  #entries() {
    return readdirSync(this.dir).flatMap((name) => {
      if (name.startsWith(".")) return [];
      try {
        const stats = lstatSync(join(this.dir, name));
        return stats.isFile() ? [{ name, stats }] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
  }

  /** Makes the directory if missing, and checks it. */
  #ensure(): void {
    try {
      mkdirSync(this.dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw saveFailed(e);
    }
    this.#check();
    if (this.#counted) return;
    // Temporary files a stopped daemon left behind: nothing will finish them.
    for (const name of readdirSync(this.dir)) if (name.startsWith(".") && name.endsWith(TEMP_SUFFIX)) unlinkSync(join(this.dir, name));
  }
}

/** A file being written: its bytes go in, then it is linked under a free name, or abandoned. */
export class Draft {
  readonly #dir: string;
  readonly #temp: string;
  readonly #handle: FileHandle;
  readonly #bytes: number;
  readonly #release: (kept: number | null) => void;
  #written = 0;
  #done = false;

  constructor(dir: string, temp: string, handle: FileHandle, bytes: number, release: (kept: number | null) => void) {
    this.#dir = dir;
    this.#temp = temp;
    this.#handle = handle;
    this.#bytes = bytes;
    this.#release = release;
  }

  /** Writes the next bytes; never more than the room set aside. */
  async write(data: Buffer): Promise<void> {
    if (this.#written + data.length > this.#bytes) throw new PilotError("internal", "a file grew past the room set aside for it", "report this bug");
    try {
      await this.#handle.write(data);
    } catch (e) {
      throw saveFailed(e);
    }
    this.#written += data.length;
  }

  /** Syncs the file and links it under the first free name of `names`; returns that name. */
  async commit(names: Iterable<string>): Promise<string> {
    try {
      await this.#handle.sync();
      await this.#handle.close();
      for (const name of names) {
        try {
          await link(this.#temp, join(this.#dir, name));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EEXIST") continue;
          throw e;
        }
        this.#release(this.#written);
        this.#done = true;
        return name;
      }
      throw new Error("no free name left");
    } catch (e) {
      throw saveFailed(e);
    } finally {
      await this.abandon();
    }
  }

  /** Removes the temporary file and gives back the room (also after `commit`, whose file stays). */
  async abandon(): Promise<void> {
    if (!this.#done) this.#release(null);
    this.#done = true;
    await this.#handle.close().catch(() => undefined);
    await unlink(this.#temp).catch(() => undefined);
  }
}

/** `name`, then `stem-1.ext`, `stem-2.ext`, …: the names a file may take, `tries` of them. */
export function* numbered(name: string, tries: number): Generator<string> {
  yield name;
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 1; i < tries; i++) yield `${stem}-${i}${ext}`;
}

function saveFailed(e: unknown): PilotError {
  if (e instanceof PilotError) return e;
  return new PilotError("save_failed", `could not save: ${e instanceof Error ? e.message : String(e)}`, "check the disk and the Pilot home's permissions");
}
