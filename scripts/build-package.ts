/**
 * `npm run build:package [-- <dir>]`: the publishable packages, `pilot-daemon` and the
 * `@pilot/protocol` it depends on, as tarballs in dist/ (or <dir>), for Node 20 and 22.
 *
 * The workspace runs its TypeScript sources directly, which Node does only from version 22.18 and
 * never inside node_modules. So each package is compiled by tsc (its tsconfig.package.json, which
 * also fails on any API newer than Node 20's) into a staging directory laid out like the sources,
 * a .js and a .d.ts for each .ts, and given a package.json derived from its workspace one: exports
 * pointing at the compiled files, and runtime dependencies pinned to the versions in
 * package-lock.json, the ones tested and the ones `npm ci` leaves in npm's cache. The same layout
 * keeps relative paths valid: pilotctl finds bin/pilot-daemon.js from its own module in both. The
 * daemon's package carries the compiled protocol package inside it (bundleDependencies), so it
 * installs from its tarball alone, before or without any published @pilot/protocol; its zod and
 * undici come from npm like any dependency.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const path = (p: string) => join(root, p);

/**
 * The Node versions the daemon's package runs on. Node 20 lacks the built-in WebSocket, which there
 * comes from undici; undici 7 needs 20.18.1. tsconfig.package.json checks against Node 20's types.
 */
const DAEMON_ENGINES = { node: ">=20.18.1" };

interface Manifest {
  name: string;
  version: string;
  description: string;
  license: string;
  exports: Record<string, string>;
  bin?: Record<string, string>;
  dependencies: Record<string, string>;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, "utf8")) as T;
const lock = readJson<{ packages: Record<string, { version: string }> }>(path("package-lock.json"));
const protocol = readJson<Manifest>(path("protocol/package.json"));
const daemon = readJson<Manifest>(path("daemon/package.json"));

/** A dependency's version: the protocol's own for @pilot/protocol, else the one package-lock.json installs. */
function pinned(name: string, range: string): string {
  if (name === protocol.name) {
    if (range !== protocol.version) throw new Error(`${daemon.name} depends on ${name} ${range}, but protocol/package.json is version ${protocol.version}: make them equal`);
    return protocol.version;
  }
  const locked = lock.packages[`node_modules/${name}`];
  if (!locked) throw new Error(`${name} is not in package-lock.json: run npm install`);
  return locked.version;
}

/** The published package.json: unlike the workspace's, it points at compiled files and pins the runtime dependencies. */
function publishedManifest(workspace: Manifest, more: object = {}): object {
  const exports = Object.fromEntries(
    Object.entries(workspace.exports).map(([subpath, source]) => [subpath, { types: source.replace(/\.ts$/, ".d.ts"), default: source.replace(/\.ts$/, ".js") }]),
  );
  const { name, version, description, license, bin } = workspace;
  const dependencies = Object.fromEntries(Object.entries(workspace.dependencies).map(([dep, range]) => [dep, pinned(dep, range)]));
  return { name, version, description, license, type: "module", exports, ...(bin && { bin }), dependencies, ...more, files: ["src", ...(bin ? ["bin/*.js"] : [])] };
}

const writeJson = (file: string, value: object) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** Compiles a workspace package into `stage`, with tsc from its tsconfig.package.json. */
const compile = (dir: string, stage: string) => execFileSync(path("node_modules/.bin/tsc"), ["-p", path(`${dir}/tsconfig.package.json`), "--outDir", stage], { stdio: "inherit" });

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
}

function pack(stage: string, out: string): Packed {
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", out], { cwd: stage, encoding: "utf8" })) as Packed[];
  return packed!;
}

const out = resolve(process.argv[2] ?? path("dist"));
const stage = join(out, "stage");
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const protocolStage = join(stage, "protocol");
compile("protocol", protocolStage);
writeJson(join(protocolStage, "package.json"), publishedManifest(protocol));

const daemonStage = join(stage, "pilot-daemon");
compile("daemon", daemonStage);
writeJson(join(daemonStage, "package.json"), publishedManifest(daemon, { engines: DAEMON_ENGINES, bundleDependencies: [protocol.name] }));
const bundled = join(daemonStage, "node_modules", protocol.name);
cpSync(join(protocolStage, "src"), join(bundled, "src"), { recursive: true });
// npm takes the dependencies of a bundled package to be bundled too: were zod listed here, npm
// would expect it inside the tarball and install an empty directory in its place. The daemon
// depends on the same zod, which Node finds from the bundled copy as well.
writeJson(join(bundled, "package.json"), { ...publishedManifest(protocol), dependencies: undefined });

const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;
/** A path as short as it can be said: from here if it lies below, else whole. */
const shown = (file: string) => (relative(process.cwd(), file).startsWith("..") ? file : relative(process.cwd(), file));
for (const dir of [protocolStage, daemonStage]) {
  const packed = pack(dir, out);
  console.log(`${shown(join(out, packed.filename))}: ${kB(packed.size)} packed, ${kB(packed.unpackedSize)} unpacked, ${packed.entryCount} files`);
}
