/**
 * Files under ~/.pilot (or $PILOT_HOME): written atomically (temporary file, fsync, rename) with
 * mode 0600 in a 0700 directory, and read back through a schema, so a corrupt or hand-mangled
 * file is a clear error and never silently replaced.
 *
 * The home may be in a shared directory (/tmp), where another local user could have made it, or
 * put files or symbolic links in it, first. So the home and every file in it must belong to this
 * user and be writable by nobody else, and files are opened without following symbolic links: a
 * planted identity, config or log link is refused, never adopted or written through.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync, type Stats } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { z } from "zod";
import { PilotError } from "../errors.ts";

function pilotHome(env: NodeJS.ProcessEnv = process.env): string {
  return env["PILOT_HOME"] || join(homedir(), ".pilot");
}

export interface HomePaths {
  dir: string;
  identity: string;
  /** A key a rotation asked the registry for, until it is identity.json or given up. */
  pendingIdentity: string;
  config: string;
  trust: string;
  registryKeys: string;
  socket: string;
  pid: string;
  log: string;
  /** Messages peers sent to the data exchange service (port 1001). */
  inbox: string;
  /** Files peers sent to the data exchange service. */
  received: string;
}

/**
 * The files of a home. Without an explicit `dir` that is $PILOT_HOME's (else ~/.pilot), and the
 * local socket is $PILOT_SOCKET when set, as in the reference Pilot, so scripts written for it work.
 */
export function homePaths(dir?: string, env: NodeJS.ProcessEnv = process.env): HomePaths {
  const home = dir ?? pilotHome(env);
  return {
    dir: home,
    identity: join(home, "identity.json"),
    pendingIdentity: join(home, "identity.next.json"),
    config: join(home, "config.json"),
    trust: join(home, "trust.json"),
    registryKeys: join(home, "registry-keys.json"),
    socket: (dir === undefined && env["PILOT_SOCKET"]) || join(home, "pilot.sock"),
    pid: join(home, "pilot.pid"),
    log: join(home, "pilot.log"),
    inbox: join(home, "inbox"),
    received: join(home, "received"),
  };
}

/**
 * Refuses a PILOT_SOCKET whose directory is missing (the home's own is made with the home): the
 * daemon could not listen there, and finding that out only when it does would leave the home made,
 * an identity written and the node registered for a start that fails.
 */
export function checkSocketDir(paths: HomePaths): void {
  const dir = dirname(resolve(paths.socket));
  if (dir === resolve(paths.dir) || existsSync(dir)) return;
  throw new PilotError("invalid_argument", `the local socket's directory ${dir} does not exist`, `make it (mkdir -p ${dir}), or unset PILOT_SOCKET to use the home's`);
}

/**
 * Refuses a local socket path that another user could answer on: PILOT_SOCKET may name a shared
 * directory such as /tmp, where anyone can make a socket first and then read every command (and
 * forge every reply) sent to it. What is there must be this user's socket, in a directory others
 * cannot rename things in (writable by nobody else, or sticky like /tmp).
 */
export function checkSocketPath(path: string): void {
  const dir = dirname(path);
  let parent: Stats;
  try {
    parent = statSync(dir);
  } catch {
    // Nothing there to answer; connecting or listening says what is wrong.
    return;
  }
  const uid = process.getuid?.();
  if (uid !== undefined && parent.mode & 0o022 && !(parent.mode & 0o1000)) {
    throw new PilotError("insecure_file", `the local socket's directory ${dir} can be written by others`, "point PILOT_SOCKET at a directory of your own, e.g. unset it to use ~/.pilot/pilot.sock");
  }
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) throw new PilotError("insecure_file", `${path} is not a socket`, `remove it (rm ${path}), or point PILOT_SOCKET elsewhere`);
  checkOwned(stats, path, "the local socket", false);
}

/**
 * Makes the home if it is missing, and refuses one that is another user's or writable by others
 * (checkHome). A command makes it only once its arguments are checked, so that one it refuses
 * leaves a fresh machine as it was.
 */
export function ensureHome(dir: string): void {
  // What is there already is refused before anything is made through it (a link to nothing, say)...
  checkHome(dir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  // ...and what is there now, had someone else made it in between.
  checkHome(dir);
}

/**
 * Refuses a home that is there and is another user's, writable by others, or not a directory; a
 * missing one passes, and nothing is made. A symbolic link to a directory is followed only if the
 * link itself is this user's too.
 */
export function checkHome(dir: string): void {
  let link: Stats;
  try {
    link = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  // A link's own mode means nothing (it is always 777); who made it does.
  if (link.isSymbolicLink()) checkOwned(link, dir, "the link to the Pilot home", false);
  // A link to nothing is not a home either (and is not made through).
  const stats = link.isSymbolicLink() && !existsSync(dir) ? undefined : statSync(dir);
  if (!stats?.isDirectory()) {
    throw new PilotError("insecure_file", `the Pilot home ${dir} is not a directory${stats ? "" : " (a link to nothing)"}`, "point PILOT_HOME at a directory of your own, e.g. ~/.pilot");
  }
  checkOwned(stats, dir, "the Pilot home");
}

/** Refuses what another user owns, or what others may write (on systems with POSIX owners). */
export function checkOwned(stats: Stats, path: string, what: string, checkMode = true): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  if (stats.uid !== uid) {
    throw new PilotError("insecure_file", `${what} at ${path} belongs to another user (uid ${stats.uid})`, "use a PILOT_HOME of your own, e.g. ~/.pilot, not one someone else made");
  }
  if (checkMode && stats.mode & 0o022) {
    throw new PilotError("insecure_file", `${what} at ${path} can be written by others (mode ${(stats.mode & 0o777).toString(8)})`, `run: chmod go-w ${path}`);
  }
}

/** Opens a file in the home without following a symbolic link, and checks who owns it. */
export function openOwned(path: string, flags: number, what: string, mode = 0o600): number {
  let fd: number;
  try {
    fd = openSync(path, flags | constants.O_NOFOLLOW, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ELOOP") {
      throw new PilotError("insecure_file", `${what} at ${path} is a symbolic link`, `remove it (rm ${path}); Pilot's files are never links`);
    }
    throw e;
  }
  try {
    checkOwned(fstatSync(fd), path, what);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
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
    const fd = openOwned(path, constants.O_RDONLY, what);
    try {
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof PilotError) throw e;
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

/** The PID in the daemon's PID file, or null when there is none. */
export function readPid(path: string): number | null {
  let text: string;
  try {
    const fd = openOwned(path, constants.O_RDONLY, "the PID file");
    try {
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return /^[1-9][0-9]{0,9}\n?$/.test(text) ? Number(text) : null;
}
