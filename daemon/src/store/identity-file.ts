/**
 * identity.json: the node's Ed25519 key pair, `{"version":1,"private_key":<seed, base64>,
 * "public_key":<base64>}`, mode 0600. On load the public key must match the seed; a mismatch, bad
 * encoding or loose permissions is an error, and the file is never replaced behind the user's back.
 */
import { z } from "zod";
import { PilotError } from "../errors.ts";
import { Identity } from "../identity.ts";
import { decodeBase64, encodeBase64 } from "@pilot/protocol";
import { checkPrivate, readJson, writeJson } from "./home.ts";

const IdentityFile = z.strictObject({ version: z.literal(1), private_key: z.string(), public_key: z.string() });

export function loadOrCreateIdentity(path: string): { identity: Identity; created: boolean } {
  const file = readJson(path, IdentityFile, "the identity file");
  if (!file) {
    const identity = Identity.generate();
    writeJson(path, { version: 1, private_key: encodeBase64(identity.exportSeed()), public_key: identity.publicKey });
    return { identity, created: true };
  }
  checkPrivate(path, "the identity file");
  const seed = decodeBase64(file.private_key, 32);
  if (!seed) throw new PilotError("corrupt_file", `the identity file at ${path} has a malformed private key`, "restore it from a backup; a new identity would be a new node");
  const identity = Identity.fromSeed(seed);
  if (identity.publicKey !== file.public_key) {
    throw new PilotError("corrupt_file", `the identity file at ${path} is corrupted: its public key does not match its private key`, "restore it from a backup; a new identity would be a new node");
  }
  return { identity, created: false };
}
