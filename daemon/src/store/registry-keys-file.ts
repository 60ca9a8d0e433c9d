/**
 * registry-keys.json: the keys the registry signs node certificates with, `{"version":1,
 * "registry":<origin>,"keys":[{key_id,public_key,current}]}`, kept so a restart need not fetch them
 * again. It is a copy of what the registry publishes to anyone, so a copy that is unreadable, for
 * another registry, or that does not match itself is set aside and fetched afresh (one that is
 * insecure, a planted link say, stops the daemon like any file in the home).
 */
import { z } from "zod";
import { RegistryKeys } from "@pilot/protocol";
import { PilotError } from "../errors.ts";
import { readJson, writeJson } from "./home.ts";

const RegistryKeysFile = z.strictObject({ version: z.literal(1), registry: z.string(), keys: RegistryKeys.shape.keys });
type RegistryKeysFile = z.infer<typeof RegistryKeysFile>;

/** The keys kept for this registry (its origin), or undefined with the reason if there are none to use. */
export function loadRegistryKeys(path: string, registry: string): { keys: RegistryKeysFile["keys"] } | { missing: string } {
  let file: RegistryKeysFile | undefined;
  try {
    file = readJson(path, RegistryKeysFile, "the registry keys file");
  } catch (e) {
    if (e instanceof PilotError && e.code === "corrupt_file") return { missing: e.message };
    throw e;
  }
  if (!file) return { missing: "none kept yet" };
  if (file.registry !== registry) return { missing: `they are for ${file.registry}` };
  return { keys: file.keys };
}

export const saveRegistryKeys = (path: string, registry: string, keys: RegistryKeysFile["keys"]) => writeJson(path, { version: 1, registry, keys });
