/**
 * A key rotation cut short, against a real local registry: whichever moment the daemon dies at, the
 * next start runs with the key the registry holds for the node, and never registers a key it does
 * not hold (which would make a new node). A pending key file that is malformed, or planted by
 * someone else, stops the start instead of being adopted.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startingIdentity } from "../src/agent/key-rotation.ts";
import { PilotError } from "../src/errors.ts";
import { Identity } from "../src/identity.ts";
import { RegistryClient } from "../src/registry-client.ts";
import { homePaths, type HomePaths } from "../src/store/home.ts";
import { loadOrCreateIdentity, savePendingIdentity } from "../src/store/identity-file.ts";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";

let registry: LocalRegistry;
const homes: string[] = [];
beforeAll(async () => {
  registry = await startLocalRegistry();
}, 60_000);
afterAll(async () => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
  await registry?.close();
}, 60_000);

/** A home whose identity is a registered node's; returns its paths, identity, client and node ID. */
async function registeredHome() {
  const paths = homePaths(mkdtempSync(join(tmpdir(), "pilot-rotation-")));
  homes.push(paths.dir);
  const { identity } = loadOrCreateIdentity(paths.identity);
  const client = new RegistryClient({ url: registry.url, identity });
  const nodeId = (await client.register()).node.node_id;
  return { paths, identity, client, nodeId };
}

const start = (paths: HomePaths, log: string[] = []) => startingIdentity(paths, registry.url, (line) => log.push(line));
const onDisk = (path: string) => JSON.parse(readFileSync(path, "utf8")).public_key as string;

async function failure(p: Promise<unknown>): Promise<PilotError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PilotError) return e;
    throw e;
  }
  throw new Error("expected a PilotError");
}

describe("a daemon starting after a key rotation was cut short", () => {
  it("runs with the new key when the registry made the change before the daemon could keep it", async () => {
    const { paths, client, nodeId } = await registeredHome();
    const next = Identity.generate();
    savePendingIdentity(paths, next);
    await client.rotateKey(nodeId, next);
    // The daemon died here: identity.json still holds the old key.
    const log: string[] = [];
    const identity = await start(paths, log);
    expect(identity.publicKey).toBe(next.publicKey);
    expect(onDisk(paths.identity)).toBe(next.publicKey);
    expect(existsSync(paths.pendingIdentity)).toBe(false);
    expect(log.join("\n")).toContain("after the registry made it");
    // It registers as the same node.
    expect((await new RegistryClient({ url: registry.url, identity }).register()).node).toMatchObject({ node_id: nodeId, public_key: next.publicKey });
  });

  it("keeps the old key when the registry never made the change", async () => {
    const { paths, identity: old, nodeId } = await registeredHome();
    const unused = Identity.generate();
    savePendingIdentity(paths, unused);
    // The daemon died before the registry's answer, or before asking.
    const identity = await start(paths);
    expect(identity.publicKey).toBe(old.publicKey);
    expect(onDisk(paths.identity)).toBe(old.publicKey);
    expect(existsSync(paths.pendingIdentity)).toBe(false);
    // The unused key is set aside, not destroyed: were the judgement wrong, it could be moved back.
    const aside = readdirSync(paths.dir).filter((f) => /^identity\.unused-[0-9]+\.json$/.test(f));
    expect(aside.map((f) => onDisk(join(paths.dir, f)))).toEqual([unused.publicKey]);
    expect((await new RegistryClient({ url: registry.url, identity }).register()).node.node_id).toBe(nodeId);
  });

  it("keeps both keys, and does not start, while the registry cannot say which is the node's", async () => {
    const { paths } = await registeredHome();
    savePendingIdentity(paths, Identity.generate());
    const err = await failure(startingIdentity(paths, "http://127.0.0.1:9", () => undefined));
    expect(err.code).toBe("unreachable");
    expect(existsSync(paths.pendingIdentity)).toBe(true);
  });

  it.each([
    ["not JSON", (path: string) => writeFileSync(path, "{", { mode: 0o600 }), "corrupt_file"],
    ["a key that does not match its seed", (path: string) => writeFileSync(path, JSON.stringify({ version: 1, private_key: Buffer.alloc(32, 1).toString("base64"), public_key: Identity.generate().publicKey }), { mode: 0o600 }), "corrupt_file"],
    ["readable by others", (path: string) => {
      savePendingIdentityAt(path);
      chmodSync(path, 0o644);
    }, "insecure_file"],
    ["a symbolic link", (path: string) => {
      const elsewhere = `${path}.elsewhere`;
      savePendingIdentityAt(elsewhere);
      symlinkSync(elsewhere, path);
    }, "insecure_file"],
  ] as const)("refuses a pending key file that is %s, and keeps the node's", async (_what, plant, code) => {
    const { paths, identity } = await registeredHome();
    plant(paths.pendingIdentity);
    expect((await failure(start(paths))).code).toBe(code);
    expect(onDisk(paths.identity)).toBe(identity.publicKey);
  });
});

/** Writes a well-formed pending key file at `path`. */
function savePendingIdentityAt(path: string): void {
  const dir = mkdtempSync(join(tmpdir(), "pilot-pending-"));
  homes.push(dir);
  const paths = homePaths(dir);
  savePendingIdentity(paths, Identity.generate());
  writeFileSync(path, readFileSync(paths.pendingIdentity), { mode: 0o600 });
}
