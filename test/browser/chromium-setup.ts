/**
 * Global setup of the console project: finds the Chromium the browser tests drive, installing
 * Debian's package when it is missing and we may (root, with apt-get), and hands its path to the
 * tests as `inject("chromiumPath")`. Anything else ends the run with one line saying what to do.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  interface ProvidedContext {
    chromiumPath: string;
  }
}

export const DEBIAN_CHROMIUM = "/usr/bin/chromium";
const INSTALL = "apt-get update && apt-get install -y chromium";

/** What the setup looks at: the environment, who runs it, and the file system. */
export interface Host {
  env: Record<string, string | undefined>;
  isRoot: boolean;
  executable(path: string): boolean;
}

export const realHost = (): Host => ({
  env: process.env,
  isRoot: process.getuid?.() === 0,
  executable(path) {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
});

/** The Chromium to use: $CHROMIUM_PATH if set, else Debian's, else `chromium` on PATH. */
export function locate(host: Host): string | undefined {
  const chosen = host.env["CHROMIUM_PATH"];
  if (chosen) return host.executable(chosen) ? chosen : undefined;
  if (host.executable(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  return onPath(host, "chromium");
}

const onPath = (host: Host, name: string) =>
  (host.env["PATH"] ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, name)).find((p) => host.executable(p));

export type Plan = { use: string } | { install: true } | { fail: string };

/** Use what is there; install Debian's package only if we are root with apt-get and no path was chosen; else say what to run. */
export function plan(host: Host): Plan {
  const found = locate(host);
  if (found) return { use: found };
  const chosen = host.env["CHROMIUM_PATH"];
  if (chosen) return { fail: `CHROMIUM_PATH=${chosen} is not an executable file: point it at a Chromium binary, or unset it to use Debian's (sudo apt-get install -y chromium).` };
  if (host.isRoot && onPath(host, "apt-get")) return { install: true };
  return { fail: "The console's browser tests need Chromium, and none was found: run `sudo apt-get install -y chromium`, or set CHROMIUM_PATH to a Chromium binary." };
}

/** Runs the install through a shell, apt's output streaming to ours; resolves with its exit code. */
function install(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", INSTALL], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    child.on("error", reject);
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

/** An error that vitest prints as its message alone: the line says what to do, a stack would not help. */
function oneLine(message: string): Error {
  const err = new Error(message);
  err.stack = message;
  return err;
}

export default async function setup(project: TestProject): Promise<void> {
  const host = realHost();
  let next = plan(host);
  if ("install" in next) {
    console.log(`Chromium is missing: installing Debian's package for the console's browser tests (${INSTALL}); this takes a minute or two.`);
    const code = await install();
    const found = locate(host);
    next = found ? { use: found } : { fail: `Installing Chromium failed (\`${INSTALL}\` exited with ${code}): fix that and run it again, or set CHROMIUM_PATH to a Chromium binary.` };
  }
  if ("fail" in next) throw oneLine(next.fail);
  project.provide("chromiumPath", next.use);
}
