/** The console project's global setup decides well where Chromium comes from, and hands its path to the tests. */
import { existsSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { plan, type Host } from "./chromium-setup.ts";

const host = (files: string[], env: Record<string, string> = {}, isRoot = false): Host => ({
  env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...env },
  isRoot,
  executable: (path) => files.includes(path),
});

describe("finding Chromium", () => {
  it("takes CHROMIUM_PATH first, then Debian's, then chromium on PATH", () => {
    expect(plan(host(["/opt/chrome", "/usr/bin/chromium"], { CHROMIUM_PATH: "/opt/chrome" }))).toEqual({ use: "/opt/chrome" });
    expect(plan(host(["/usr/bin/chromium", "/usr/local/bin/chromium"]))).toEqual({ use: "/usr/bin/chromium" });
    expect(plan(host(["/usr/local/bin/chromium"]))).toEqual({ use: "/usr/local/bin/chromium" });
  });

  it("installs Debian's package when it is missing, only as root with apt-get", () => {
    expect(plan(host(["/usr/bin/apt-get"], {}, true))).toEqual({ install: true });
    const notRoot = plan(host(["/usr/bin/apt-get"]));
    const noApt = plan(host([], {}, true));
    for (const p of [notRoot, noApt]) {
      expect(p).toEqual({ fail: expect.stringContaining("run `sudo apt-get install -y chromium`, or set CHROMIUM_PATH") });
      expect((p as { fail: string }).fail).not.toContain("\n");
    }
  });

  it("does not install over a CHROMIUM_PATH that names nothing: it says so", () => {
    expect(plan(host(["/usr/bin/apt-get", "/usr/bin/chromium"], { CHROMIUM_PATH: "/nowhere/chromium" }, true))).toEqual({
      fail: expect.stringMatching(/^CHROMIUM_PATH=\/nowhere\/chromium is not an executable file: .*apt-get install -y chromium/),
    });
  });

  it("gives the tests the path it found", () => {
    const path = inject("chromiumPath");
    expect(existsSync(path)).toBe(true);
    if (process.env["CHROMIUM_PATH"]) expect(path).toBe(process.env["CHROMIUM_PATH"]);
  });
});
