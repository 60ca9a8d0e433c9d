/** The committed client types against the document the Worker serves now. */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { servedDocument } from "./openapi-document.ts";
import { TYPES_FILE, typesOf } from "./openapi-types.ts";

describe("the generated client types", () => {
  it("are what the served document generates (else: npm run openapi:types)", { timeout: 120_000 }, async () => {
    const committed = await readFile(TYPES_FILE, "utf8");
    expect(committed === (await typesOf(await servedDocument())), "test/generated/registry-api.ts is stale: run npm run openapi:types").toBe(true);
  });
});
