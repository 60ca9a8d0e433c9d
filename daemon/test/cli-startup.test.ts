/**
 * What a pilotctl run loads. Every command but `daemon start --foreground` is a client of the
 * daemon's local socket, and each run pays for every module it loads: the daemon's own (its data
 * plane, crypto, registry client) once cost each run about half its start-up.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const PILOTCTL = fileURLToPath(new URL("../bin/pilotctl.js", import.meta.url));
const SOURCES = new URL("../src/", import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), "pilot-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module hook that writes each of the daemon's source modules loaded to `out`, one a line, as the process exits. */
const HOOK = join(dir, "loaded.mjs");
writeFileSync(
  HOOK,
  `import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";
const loaded = [];
registerHooks({ load(url, context, next) { if (url.startsWith(${JSON.stringify(SOURCES)})) loaded.push(url.slice(${SOURCES.length})); return next(url, context); } });
process.on("exit", () => writeFileSync(process.env.LOADED_OUT, loaded.join("\\n")));
`,
);

/** The daemon's source modules (paths under daemon/src) a pilotctl run with `args` loads. */
function loadedBy(args: string[]): string[] {
  const out = join(dir, `loaded-${args.join("-")}.txt`);
  const home = join(dir, "home");
  const r = spawnSync(process.execPath, [`--import=${HOOK}`, PILOTCTL, ...args], {
    encoding: "utf8",
    env: { ...process.env, LOADED_OUT: out, PILOT_HOME: home },
  });
  expect(r.error).toBeUndefined();
  if (!existsSync(out)) throw new Error(`pilotctl ${args.join(" ")} exited ${r.status} before the hook wrote its list: ${r.stderr}`);
  return readFileSync(out, "utf8").split("\n").filter(Boolean);
}

describe("a pilotctl run", () => {
  it.each([["help"], ["info", "--json"], ["peers", "--json"]])("`pilotctl %s` loads the client, not the daemon", (...args) => {
    const loaded = loadedBy(args);
    // The hook sees the command set load, so an empty list cannot pass for a clean one.
    expect(loaded).toContain("cli/pilotctl.ts");
    expect(loaded.filter((m) => m === "main.ts" || /^(dataplane|crypto|agent\/pilot-daemon|ipc\/server|registry-client)/.test(m))).toEqual([]);
  });
});
