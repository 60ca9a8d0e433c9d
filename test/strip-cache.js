/**
 * A cache of TypeScript with its types stripped, for the Node processes the tests start.
 *
 * The checkout's daemon and pilotctl run their TypeScript sources, and Node strips the types of
 * every module in every process it starts: about 0.45 s of CPU each, most of what a short pilotctl
 * command costs. The suite starts hundreds of them, beside daemons that start and stop, so on a
 * 2-core machine that stripping was close to half of some end-to-end files' time. vitest.config.ts
 * loads this into every process the tests start (NODE_OPTIONS); the first to load a source strips
 * it with Node's own stripTypeScriptTypes and saves the result under node_modules/.cache, keyed by
 * the source's hash and Node's version, and the rest read it. Stripping keeps every line and column
 * where it was, so stack traces point into the sources as before.
 *
 * Whatever Node would refuse or report itself is left to Node: TypeScript inside node_modules, and
 * a source that does not strip (Node's own error names the file). It is plain JavaScript because
 * Node would strip a TypeScript hook's types itself, and a no-op where Node lacks synchronous hooks
 * (Node 20, which a test starts on purpose).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as nodeModule from "node:module";
import { fileURLToPath } from "node:url";

const CACHE = fileURLToPath(new URL("../node_modules/.cache/strip-types/", import.meta.url));

/** `source` stripped, quietly: stripTypeScriptTypes warns that it is experimental, on stderr, which commands' output would carry. */
function strip(source) {
  const warn = process.emitWarning;
  process.emitWarning = () => {};
  try {
    return nodeModule.stripTypeScriptTypes(source, { mode: "strip" });
  } finally {
    process.emitWarning = warn;
  }
}

/** The stripped source, from the cache or stripped now and saved (each file appears whole, renamed into place); throws what stripping throws. */
function stripped(source) {
  const key = createHash("sha256").update(process.version).update("\0").update(source).digest("hex");
  const file = `${CACHE}${key}.js`;
  try {
    return readFileSync(file, "utf8");
  } catch {
    const js = strip(source);
    const partial = `${file}.${process.pid}`;
    try {
      mkdirSync(CACHE, { recursive: true });
      writeFileSync(partial, js);
      renameSync(partial, file);
    } catch {
      // A cache that cannot be written (node_modules read-only to this user, a full disk) only costs time.
      rmSync(partial, { force: true });
    }
    return js;
  }
}

if (nodeModule.registerHooks && nodeModule.stripTypeScriptTypes) {
  nodeModule.registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      // The project's TypeScript is all ES modules; Node refuses TypeScript in node_modules when it strips it.
      if (loaded.format !== "module-typescript" || url.includes("/node_modules/")) return loaded;
      try {
        return { format: "module", source: stripped(String(loaded.source)), shortCircuit: true };
      } catch {
        return loaded;
      }
    },
  });
}
