/**
 * Assembles the daemon's WebAssembly (daemon/src/crypto/chacha20-poly1305.wat) with wabt into the
 * module the daemon loads, daemon/src/crypto/chacha20-poly1305-wasm.ts: the binary as base64, so the
 * package carries no file besides its JavaScript. `npm run build:wasm` writes it; with `--check`
 * (part of `npm run check`) it fails if the committed module is not what the source assembles to.
 */
import { readFile, writeFile } from "node:fs/promises";
import wabtInit from "wabt";

const SOURCE = new URL("../daemon/src/crypto/chacha20-poly1305.wat", import.meta.url);
const MODULE = new URL("../daemon/src/crypto/chacha20-poly1305-wasm.ts", import.meta.url);

async function assembled(): Promise<string> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat("chacha20-poly1305.wat", await readFile(SOURCE, "utf8"));
  try {
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    const base64 = Buffer.from(buffer).toString("base64").replace(/.{1,100}/g, (line) => `  "${line}",\n`);
    return `// Assembled from chacha20-poly1305.wat by \`npm run build:wasm\` (scripts/wasm-build.ts): do not edit.\n\nexport const CHACHA20_POLY1305_WASM = [\n${base64}].join("");\n`;
  } finally {
    parsed.destroy();
  }
}

const text = await assembled();
if (process.argv.includes("--check")) {
  const committed = await readFile(MODULE, "utf8").catch(() => "");
  if (committed !== text) {
    console.error("daemon/src/crypto/chacha20-poly1305-wasm.ts is not what chacha20-poly1305.wat assembles to: run npm run build:wasm");
    process.exit(1);
  }
} else {
  await writeFile(MODULE, text);
}
