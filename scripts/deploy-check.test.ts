/**
 * `npm run deploy`'s guard: with wrangler.toml's placeholder database ID (as the repository ships
 * it) the deploy is refused before anything runs, with what to do; a real ID passes. And the
 * documented deploy command runs the guard first.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("./deploy-check.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../wrangler.toml", import.meta.url));
const shipped = readFileSync(CONFIG, "utf8");

function check(config?: string): Promise<{ code: number; stderr: string }> {
  const args = [SCRIPT];
  if (config !== undefined) {
    const file = join(mkdtempSync(join(tmpdir(), "deploy-check-")), "wrangler.toml");
    writeFileSync(file, config);
    args.push(file);
  }
  return new Promise((resolve) => {
    execFile(process.execPath, args, (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }));
  });
}

describe("npm run deploy's guard", () => {
  it("refuses the repository's own wrangler.toml, which has the placeholder database ID, naming what to do", async () => {
    const { code, stderr } = await check();
    expect(code).toBe(1);
    expect(stderr).toContain("placeholder D1 database ID 00000000-0000-0000-0000-000000000000");
    expect(stderr).toContain("npx wrangler d1 create pilot-registry");
    expect(stderr).toContain("docs/operations.md");
  });

  it("passes a wrangler.toml with a real database ID", async () => {
    const real = shipped.replace(/database_id = "[^"]*"/, 'database_id = "3f2c9a4e-7b1d-4c8e-9f60-1a2b3c4d5e6f"');
    expect(await check(real)).toEqual({ code: 0, stderr: "" });
  });

  it.each([
    ["no database ID at all", (t: string) => t.replace(/^database_id = .*$/m, "")],
    ["an ID that is not a UUID", (t: string) => t.replace(/database_id = "[^"]*"/, 'database_id = "pilot-registry"')],
  ])("refuses %s", async (_, change) => {
    const { code, stderr } = await check(change(shipped));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^deploy refused: /);
  });

  it("runs before anything else in the documented deploy command", () => {
    const scripts = (JSON.parse(readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8")) as { scripts: Record<string, string> }).scripts;
    expect(scripts["deploy"]).toMatch(/^node scripts\/deploy-check\.ts && .*wrangler d1 migrations apply DB --remote && wrangler deploy$/);
  });
});
