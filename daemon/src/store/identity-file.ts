/**
 * identity.json: the node's Ed25519 key pair, `{"version":1,"private_key":<seed, base64>,
 * "public_key":<base64>}`, mode 0600. On load the public key must match the seed; a mismatch, bad
 * encoding or loose permissions is an error, and the file is never replaced behind the user's back.
 *
 * Two moments replace it on purpose. A key rotation writes the new key to identity.next.json (same
 * form) before it asks the registry, and moves it over identity.json once the registry has taken it,
 * so a daemon that dies in between still holds the key its node now has (agent/key-rotation.ts).
 * A deregistration sets identity.json aside as identity.deregistered-<node ID>.json.
 */
import { z } from "zod";
import { PilotError } from "../errors.ts";
import { Identity } from "../identity.ts";
import { decodeBase64, encodeBase64 } from "@pilot/protocol";
import { renameSync } from "node:fs";
import { join } from "node:path";
import { checkPrivate, readJson, writeJson, type HomePaths } from "./home.ts";

const IdentityFile = z.strictObject({ version: z.literal(1), private_key: z.string(), public_key: z.string() });

export function loadOrCreateIdentity(path: string): { identity: Identity; created: boolean } {
  const identity = loadIdentity(path, "the identity file");
  if (identity) return { identity, created: false };
  const made = Identity.generate();
  saveIdentity(path, made);
  return { identity: made, created: true };
}

/** The key a rotation left behind, if one was under way when the daemon last stopped. */
export const loadPendingIdentity = (paths: HomePaths) => loadIdentity(paths.pendingIdentity, "the pending identity file");

/** Keeps the key a rotation is about to ask the registry for, before it asks. */
export const savePendingIdentity = (paths: HomePaths, identity: Identity) => saveIdentity(paths.pendingIdentity, identity);

/** The registry holds the pending key now: it becomes the node's identity (an atomic rename, so either file is whole). */
export function commitPendingIdentity(paths: HomePaths): void {
  renameSync(paths.pendingIdentity, paths.identity);
}

/** The registry never took the pending key: it goes. */
export function discardPendingIdentity(paths: HomePaths): void {
  // Set aside, never deleted: a private key is never destroyed on a judgement that could be wrong
  // (an answer that lost a race with the registry's commit); moved back, it would be the node's.
  try {
    renameSync(paths.pendingIdentity, join(paths.dir, `identity.unused-${Date.now()}.json`));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/**
 * Sets the identity of a deregistered node aside, where the next start does not find it, so a
 * restarted daemon makes a new node instead of bringing this one back; moving it back to
 * identity.json brings node `nodeId` back (without the trust and networks it had).
 */
export function archiveIdentity(paths: HomePaths, nodeId: number): string {
  const archived = join(paths.dir, `identity.deregistered-${nodeId}.json`);
  renameSync(paths.identity, archived);
  return archived;
}

const saveIdentity = (path: string, identity: Identity) =>
  writeJson(path, { version: 1, private_key: encodeBase64(identity.exportSeed()), public_key: identity.publicKey });

function loadIdentity(path: string, what: string): Identity | undefined {
  const file = readJson(path, IdentityFile, what);
  if (!file) return undefined;
  checkPrivate(path, what);
  const seed = decodeBase64(file.private_key, 32);
  if (!seed) throw new PilotError("corrupt_file", `${what} at ${path} has a malformed private key`, "restore it from a backup; a new identity would be a new node");
  const identity = Identity.fromSeed(seed);
  if (identity.publicKey !== file.public_key) {
    throw new PilotError("corrupt_file", `${what} at ${path} is corrupted: its public key does not match its private key`, "restore it from a backup; a new identity would be a new node");
  }
  return identity;
}
