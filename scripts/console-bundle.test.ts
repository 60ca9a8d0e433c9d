/** The console's browser script carries our own code only: a schema from @pilot/protocol would bring zod. */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { bundleConsole } from "./console-bundle.ts";

it("bundles the console's script from our own code and @pilot/protocol's plain values, without zod", async () => {
  expect((await bundleConsole()).packages).toEqual([]);
});

it("names the package a schema import would bring in", async () => {
  // Inside the repository, so that @pilot/protocol resolves as it does for the console's own code.
  const dir = fileURLToPath(new URL(`../.wrangler/tmp/console-bundle-test-${process.pid}/`, import.meta.url));
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(`${dir}/entry.ts`, 'import { Network } from "@pilot/protocol";\nconsole.log(Network.parse({}));\n');
    expect((await bundleConsole(`${dir}/entry.ts`)).packages).toContain("zod");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
