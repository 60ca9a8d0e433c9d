/**
 * The directories peers fill through the data exchange: inbox/ and received/. Files are placed
 * whole, 0600, never over another file or through a link; the directories are capped; a directory
 * that is a link or not private is refused; listing and clearing touch only the regular files.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Inbox, type InboxMessage } from "../src/store/inbox.ts";
import { ReceivedFiles } from "../src/store/received-files.ts";

let home: string;
let outside: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "pilot-peerfiles-"));
  outside = mkdtempSync(join(tmpdir(), "pilot-outside-"));
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const message = (data: string): InboxMessage => ({ type: "TEXT", from: "0:0000.0000.0005", data, bytes: Buffer.byteLength(data), received_at: "2026-01-15T10:15:02.123Z" });
const at = new Date("2026-01-15T10:15:02.123Z");

/** Writes a received file whole; returns the name it took. */
async function receive(files: ReceivedFiles, name: string, content: string): Promise<string> {
  const draft = await files.begin(Buffer.byteLength(content));
  await draft.write(Buffer.from(content));
  return files.keep(draft, name);
}

describe("the inbox", () => {
  it("saves each message whole, 0600, as <TYPE>-<time>.json, and a second in the same millisecond beside it", async () => {
    const inbox = new Inbox(join(home, "inbox"));
    expect(await inbox.save(message("first"), at)).toBe("TEXT-20260115-101502.123.json");
    expect(await inbox.save(message("second"), at)).toBe("TEXT-20260115-101502.123-1.json");
    const path = join(home, "inbox", "TEXT-20260115-101502.123.json");
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(message("first"));
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(home, "inbox")).mode & 0o777).toBe(0o700);
    expect(inbox.read().map((m) => m.data)).toEqual(["first", "second"]);
    // No temporary file is left behind.
    expect(readdirSync(join(home, "inbox")).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("never writes through a link planted where a message would go, dangling or not", async () => {
    const dir = join(home, "inbox");
    mkdirSync(dir, { mode: 0o700 });
    const target = join(outside, "victim");
    writeFileSync(target, "untouched");
    symlinkSync(target, join(dir, "TEXT-20260115-101502.123.json"));
    symlinkSync(join(outside, "nothing-here"), join(dir, "TEXT-20260115-101502.123-1.json"));
    const inbox = new Inbox(dir);
    expect(await inbox.save(message("hello"), at)).toBe("TEXT-20260115-101502.123-2.json");
    expect(readFileSync(target, "utf8")).toBe("untouched");
    expect(existsSync(join(outside, "nothing-here"))).toBe(false);
    // Reading passes the links over; clearing removes the message and leaves the links and their targets.
    expect(inbox.read().map((m) => m.data)).toEqual(["hello"]);
    expect(inbox.clear()).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(["TEXT-20260115-101502.123-1.json", "TEXT-20260115-101502.123.json"]);
    expect(readFileSync(target, "utf8")).toBe("untouched");
  });

  it("passes over files that are not messages", async () => {
    const dir = join(home, "inbox");
    const inbox = new Inbox(dir);
    await inbox.save(message("real"), at);
    writeFileSync(join(dir, "junk.json"), "{not json");
    writeFileSync(join(dir, "wrong.json"), JSON.stringify({ type: "TEXT" }));
    mkdirSync(join(dir, "a-directory"));
    expect(inbox.read().map((m) => m.data)).toEqual(["real"]);
  });

  it("refuses an inbox that is a link, or that others may write, and writes nothing there", async () => {
    symlinkSync(outside, join(home, "inbox"));
    const linked = new Inbox(join(home, "inbox"));
    await expect(linked.save(message("x"), at)).rejects.toMatchObject({ code: "insecure_file", message: expect.stringContaining("symbolic link") });
    expect(() => linked.read()).toThrow(expect.objectContaining({ code: "insecure_file" }));
    writeFileSync(join(outside, "precious"), "keep me");
    expect(() => linked.clear()).toThrow(expect.objectContaining({ code: "insecure_file" }));
    expect(readdirSync(outside)).toEqual(["precious"]);

    const open = join(home, "open-inbox");
    mkdirSync(open);
    chmodSync(open, 0o777);
    await expect(new Inbox(open).save(message("x"), at)).rejects.toMatchObject({ code: "insecure_file" });
    expect(readdirSync(open)).toEqual([]);
  });

  it("is capped in files and bytes; a refused message writes nothing; clearing makes room again", async () => {
    const dir = join(home, "inbox");
    const inbox = new Inbox(dir, { files: 2, bytes: 1000 });
    await inbox.save(message("one"), at);
    await inbox.save(message("two"), at);
    await expect(inbox.save(message("three"), at)).rejects.toMatchObject({ code: "inbox_full", message: "the inbox holds 2 files already, its limit" });
    expect(readdirSync(dir)).toHaveLength(2);
    // The owner clears it (as pilotctl inbox --clear does, through another Inbox): room again.
    expect(new Inbox(dir).clear()).toBe(2);
    await inbox.save(message("three"), at);

    const small = new Inbox(join(home, "small"), { files: 100, bytes: 300 });
    await small.save(message("x".repeat(100)), at);
    await expect(small.save(message("y".repeat(100)), at)).rejects.toMatchObject({ code: "inbox_full", message: expect.stringMatching(/^the inbox has \d+ of its 300 bytes free, not \d+$/) });
    expect(small.read().map((m) => m.data)).toEqual(["x".repeat(100)]);
  });
});

describe("received files", () => {
  it("keep the peer's name, and never replace a file: the next takes name-1.ext, name-2.ext", async () => {
    const files = new ReceivedFiles(join(home, "received"));
    expect(await receive(files, "report.pdf", "v1")).toBe("report.pdf");
    expect(await receive(files, "report.pdf", "v2")).toBe("report-1.pdf");
    expect(await receive(files, "report.pdf", "v3")).toBe("report-2.pdf");
    expect(await receive(files, "notes", "n1")).toBe("notes");
    expect(await receive(files, "notes", "n2")).toBe("notes-1");
    expect(await receive(files, "archive.tar.gz", "a")).toBe("archive.tar.gz");
    expect(await receive(files, "archive.tar.gz", "b")).toBe("archive.tar-1.gz");
    const dir = join(home, "received");
    expect(readFileSync(join(dir, "report.pdf"), "utf8")).toBe("v1");
    expect(readFileSync(join(dir, "report-2.pdf"), "utf8")).toBe("v3");
    expect(lstatSync(join(dir, "report.pdf")).mode & 0o777).toBe(0o600);
  });

  it("never write through a link planted under the name, and list only the regular files", async () => {
    const dir = join(home, "received");
    mkdirSync(dir, { mode: 0o700 });
    const target = join(outside, "authorized_keys");
    writeFileSync(target, "original");
    symlinkSync(target, join(dir, "authorized_keys"));
    mkdirSync(join(dir, "subdir"));
    const files = new ReceivedFiles(dir);
    expect(await receive(files, "authorized_keys", "ssh-ed25519 attacker")).toBe("authorized_keys-1");
    expect(readFileSync(target, "utf8")).toBe("original");
    expect(files.list()).toEqual([{ name: "authorized_keys-1", bytes: 20, modified: expect.any(String), path: join(dir, "authorized_keys-1") }]);
    expect(files.clear()).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(["authorized_keys", "subdir"]);
    expect(readFileSync(target, "utf8")).toBe("original");
  });

  it("set room aside before a byte is written: a file that would not fit is refused whole, and an abandoned one gives its room back", async () => {
    const dir = join(home, "received");
    const files = new ReceivedFiles(dir, { files: 10, bytes: 100 });
    const first = await files.begin(60);
    await expect(files.begin(50)).rejects.toMatchObject({ code: "received_full", message: "the received files has 40 of its 100 bytes free, not 50" });
    await expect(first.write(Buffer.alloc(61))).rejects.toMatchObject({ code: "internal" });
    await first.abandon();
    expect(readdirSync(dir)).toEqual([]);
    const second = await files.begin(100);
    await second.write(Buffer.alloc(100));
    expect(await files.keep(second, "full")).toBe("full");
    await expect(files.begin(1)).rejects.toMatchObject({ code: "received_full" });
  });

  it("remove temporary files a stopped daemon left behind, and count nothing hidden", async () => {
    const dir = join(home, "received");
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, ".0123456789abcdef.part"), "half a file");
    writeFileSync(join(dir, ".hidden-by-hand"), "the owner's");
    const files = new ReceivedFiles(dir, { files: 1, bytes: 100 });
    expect(await receive(files, "a", "x")).toBe("a");
    expect(readdirSync(dir).sort()).toEqual([".hidden-by-hand", "a"]);
  });
});
