/** config.json: where the daemon finds its registry and STUN server, and how it presents itself. */
import { z } from "zod";
import { parseHostPort } from "../net/host-port.ts";
import { DEFAULT_STUN_SERVER } from "../net/stun-client.ts";
import { EnrollmentKey, Hostname } from "@pilot/protocol";
import { readJson, writeJson } from "./home.ts";

export const DEFAULT_REGISTRY = "http://localhost:8787";

const parses = (text: string, allowZero: boolean) => {
  try {
    parseHostPort(text, allowZero);
    return true;
  } catch {
    return false;
  }
};

export const Config = z.strictObject({
  registry: z.url().default(DEFAULT_REGISTRY),
  stun: z
    .string()
    .refine((s) => s === "off" || (s.split(",").length <= 2 && s.split(",").every((one) => parses(one.trim(), false))), 'must be host:port, two of them separated by a comma, or "off"')
    .default(DEFAULT_STUN_SERVER),
  listen: z
    .string()
    .refine((s) => parses(s, true), "must be host:port (port 0 picks a free one)")
    .default("0.0.0.0:0")
    .meta({ description: "UDP address the data plane binds" }),
  hostname: Hostname.nullable().default(null),
  public: z.boolean().default(false),
  enroll: EnrollmentKey.optional(),
});
export type Config = z.infer<typeof Config>;

export const loadConfig = (path: string): Config => readJson(path, Config, "the config file") ?? Config.parse({});
export const saveConfig = (path: string, config: Config) => writeJson(path, config);

