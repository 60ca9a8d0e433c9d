/**
 * The console's browser script as one file: worker/console/client/app.ts and what it imports,
 * bundled into a classic script for `<script defer>`, and the packages that bundle would carry.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const CONSOLE_ENTRY = fileURLToPath(new URL("../worker/console/client/app.ts", import.meta.url));

export interface ConsoleBundle {
  code: Uint8Array;
  /** Third-party packages with code in the bundle; the console's script should have none. */
  packages: string[];
}

export async function bundleConsole(entry = CONSOLE_ENTRY): Promise<ConsoleBundle> {
  const { outputFiles, metafile } = await build({
    entryPoints: [entry],
    bundle: true,
    format: "iife",
    target: "es2022",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "warning",
  });
  // esbuild reads zod while following @pilot/protocol's imports and then leaves it out (the
  // package declares no side effects): only what has bytes in the output counts.
  const inOutput = Object.values(metafile.outputs).flatMap((output) => Object.entries(output.inputs).filter(([, use]) => use.bytesInOutput > 0));
  const packages = new Set(inOutput.flatMap(([input]) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? []));
  return { code: outputFiles[0]!.contents, packages: [...packages] };
}
