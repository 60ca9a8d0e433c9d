/**
 * ~/.pilot/inbox: the messages peers sent to the data exchange service (port 1001), one JSON file
 * each, `<TYPE>-<YYYYMMDD-HHMMSS.mmm>.json` = `{type, from, data, bytes, received_at}`, as in the
 * Pilot command set. A binary message's data is base64 (JSON holds no raw bytes); text and JSON
 * messages keep their text.
 */
import { closeSync, constants, readFileSync } from "node:fs";
import { z } from "zod";
import { CappedDir, numbered, type DirLimits } from "./capped-dir.ts";
import { openOwned } from "./home.ts";

/**
 * 10,000 messages and 256 MiB: months of ordinary messages, and sixteen of the largest a frame
 * holds, while a peer that sends without end can take no more of the disk than that.
 */
export const INBOX_LIMITS: DirLimits = { bytes: 256 << 20, files: 10_000 };

export const InboxMessage = z.object({
  type: z.enum(["TEXT", "JSON", "BINARY"]),
  from: z.string(),
  data: z.string(),
  bytes: z.number().int().nonnegative(),
  received_at: z.string(),
});
export type InboxMessage = z.infer<typeof InboxMessage>;

export class Inbox {
  readonly #dir: CappedDir;

  constructor(dir: string, limits: DirLimits = INBOX_LIMITS) {
    this.#dir = new CappedDir(dir, limits, { what: "the inbox", fullCode: "inbox_full", clearWith: "pilotctl inbox --clear" });
  }

  get dir(): string {
    return this.#dir.dir;
  }

  /** Saves a message whole under a name of its own; returns the name. */
  async save(message: InboxMessage, at: Date): Promise<string> {
    const content = Buffer.from(`${JSON.stringify(message)}\n`);
    const draft = await this.#dir.begin(content.length);
    try {
      await draft.write(content);
    } catch (e) {
      await draft.abandon();
      throw e;
    }
    return draft.commit(numbered(`${message.type}-${stamp(at)}.json`, this.#dir.limits.files + 1));
  }

  /** The messages, oldest first. A file that is not a message (put there by hand, a link) is passed over. */
  read(): InboxMessage[] {
    return this.#dir.list().flatMap((entry) => {
      try {
        const fd = openOwned(entry.path, constants.O_RDONLY, "an inbox message");
        try {
          return [InboxMessage.parse(JSON.parse(readFileSync(fd, "utf8")))];
        } finally {
          closeSync(fd);
        }
      } catch {
        return [];
      }
    });
  }

  clear(): number {
    return this.#dir.clear();
  }
}

/** `20260115-101502.123`, in UTC: the name's time, which sorts as it reads. */
const stamp = (at: Date) => at.toISOString().replace(/[-:]/g, "").replace("T", "-").replace("Z", "");
