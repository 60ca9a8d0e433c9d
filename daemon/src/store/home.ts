/**
 * Files under ~/.pilot (or $PILOT_HOME): written atomically (temporary file, fsync, rename) with
 * mode 0600 in a 0700 directory, and read back through a schema, so a corrupt or hand-mangled
 * file is a clear error and never silently replaced.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { z } from "zod";
import { PilotError } from "../errors.ts";

function pilotHome(env: NodeJS.ProcessEnv = process.env): string {
  return env["PILOT_HOME"] || join(homedir(), ".pilot");
}

export interface HomePaths {
  dir: string;
  identity: string;
  config: string;
  trust: string;
  socket: string;
  pid: string;
  log: string;
}

export function homePaths(dir = pilotHome()): HomePaths {
  return {
    dir,
    identity: join(dir, "identity.json"),
    config: join(dir, "config.json"),
    trust: join(dir, "trust.json"),
    socket: join(dir, "pilot.sock"),
    pid: join(dir, "pilot.pid"),
    log: join(dir, "pilot.log"),
  };
}

export function ensureHome(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function writeFileAtomic(path: string, content: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

export const writeJson = (path: string, value: unknown) => writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);

/** Reads a JSON file through its schema; undefined if it does not exist. */
export function readJson<T>(path: string, schema: z.ZodType<T>, what: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PilotError("internal", `cannot read ${path}: ${(e as Error).message}`, "check the file's permissions");
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new PilotError("corrupt_file", `${what} at ${path} is not valid JSON`, `restore it from a backup, or move it away to start afresh`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PilotError("corrupt_file", `${what} at ${path} is invalid: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`, "restore it from a backup, or move it away to start afresh");
  }
  return parsed.data;
}

/** Refuses a secret file that others can read. */
export function checkPrivate(path: string, what: string): void {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new PilotError("insecure_file", `${what} at ${path} is readable by others (mode ${mode.toString(8)})`, `run: chmod 600 ${path}`);
  }
}
