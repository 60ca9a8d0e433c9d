/**
 * The tests' cache of stripped TypeScript (test/strip-cache.js), in Node processes of its own: it
 * must load what Node loads, the same way, and refuse or report what Node refuses or reports.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const HOOK = new URL("../../test/strip-cache.js", import.meta.url).href;
const CACHE = fileURLToPath(new URL("../../node_modules/.cache/strip-types/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "pilot-strip-"));
// ES modules, as the project's own are (a .ts outside any package would be CommonJS's).
writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `file` with this Node, with the hook or without it, and nothing else in NODE_OPTIONS. */
function run(file: string, hook: boolean) {
  const r = spawnSync(process.execPath, [...(hook ? [`--import=${HOOK}`] : []), file], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes a module at `path` under the test's directory; returns its full path. */
function source(path: string, text: string): string {
  const file = join(dir, path);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const cached = (text: string) => join(CACHE, `${createHash("sha256").update(process.version).update("\0").update(text).digest("hex")}.js`);

describe("the tests' cache of stripped TypeScript", () => {
  it("runs a module as Node does, keeps its lines for stack traces, fills the cache once, and prints no warning", () => {
    const text = `// ${randomTag()}\nconst n: number = 41;\ninterface Unused { a: string }\nconsole.log(n + 1, new Error("here").stack!.split("\\n")[1]!.includes("main.ts:4"));\n`;
    const file = source("plain/main.ts", text);
    expect(existsSync(cached(text))).toBe(false);
    const first = run(file, true);
    expect(first).toEqual({ status: 0, stdout: "42 true\n", stderr: "" });
    expect(existsSync(cached(text))).toBe(true);
    expect(run(file, true)).toEqual(first);
    expect(run(file, false)).toEqual(first);
  });

  it("leaves TypeScript inside node_modules for Node to refuse", () => {
    source("pkg/node_modules/dep/package.json", JSON.stringify({ name: "dep", type: "module", exports: "./index.ts" }));
    source("pkg/node_modules/dep/index.ts", "export const dep: number = 2;\n");
    const file = source("pkg/main.ts", `import { dep } from "dep";\nconsole.log(dep);\n`);
    const [withHook, without] = [run(file, true), run(file, false)];
    expect(without.stderr).toContain("ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING");
    expect(withHook.status).toBe(without.status);
    expect(withHook.stderr).toContain("ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING");
  });

  it("leaves a source that does not strip to Node, whose error names the file", () => {
    const file = source("bad/main.ts", `enum Colour { Red }\nconsole.log(Colour.Red);\n`);
    const [withHook, without] = [run(file, true), run(file, false)];
    expect(without.status).not.toBe(0);
    expect(withHook.status).toBe(without.status);
    expect(withHook.stderr).toContain("bad/main.ts");
    expect(withHook.stderr).toContain("ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX");
  });
});

function randomTag(): string {
  return createHash("sha256").update(String(Math.random())).digest("hex");
}
