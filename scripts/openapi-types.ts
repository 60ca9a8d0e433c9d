/**
 * The TypeScript types a client of the registry is generated with (openapi-typescript), from the
 * served document: `npm run openapi:types` writes them to test/generated/registry-api.ts, where the
 * generated-client test drives the registry through them and scripts/openapi.test.ts holds them
 * to the document.
 */
import { writeFile } from "node:fs/promises";
import openapiTS from "openapi-typescript";
import { servedDocument } from "./openapi-document.ts";

export const TYPES_FILE = new URL("../test/generated/registry-api.ts", import.meta.url);

const HEADER = "// Generated from /v1/openapi.json by `npm run openapi:types` (scripts/openapi-types.ts): do not edit.\n\n";

export async function typesOf(document: string): Promise<string> {
  return HEADER + (await openapiTS(JSON.parse(document) as Parameters<typeof openapiTS>[0]));
}

if (import.meta.main) await writeFile(TYPES_FILE, await typesOf(await servedDocument()));
