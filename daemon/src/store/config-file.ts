/** config.json: where the daemon finds its registry and STUN server, and how it presents itself. */
import { z } from "zod";
import { parseHostPort } from "../net/host-port.ts";
import { DEFAULT_STUN_SERVER } from "../net/stun-client.ts";
import { EnrollmentKey, Hostname } from "@pilot/protocol";
import { PilotError } from "../errors.ts";
import { ensureHome, readJson, writeJson, type HomePaths } from "./home.ts";

/** A registry's URL: the origin its operator deployed it on (workers.dev or their own domain). */
const RegistryUrl = z
  .url({ protocol: /^https?$/, error: "must be the registry's http(s) URL, e.g. https://registry.example.com" })
  // Its origin only: a path would be dropped without a word, and credentials would show in info and config.
  .refine((text) => {
    // Not a URL at all: the check above says so.
    if (!URL.canParse(text)) return true;
    const url = new URL(text);
    return !url.username && !url.password && url.pathname === "/" && !url.search && !url.hash;
  }, "must be the registry's origin only (scheme, host and port: no path, query or credentials), e.g. https://registry.example.com");

const parses = (text: string, allowZero: boolean) => {
  try {
    parseHostPort(text, allowZero);
    return true;
  } catch {
    return false;
  }
};

export const Config = z.strictObject({
  /**
   * No default: a daemon that silently registered with some built-in address would be a node of a
   * registry its user never chose. `pilotctl init --registry URL` sets it.
   */
  registry: RegistryUrl.optional(),
  stun: z
    .string()
    .refine((s) => s === "off" || (s.split(",").length <= 2 && s.split(",").every((one) => parses(one.trim(), false))), 'must be host:port, two of them separated by a comma, or "off"')
    .default(DEFAULT_STUN_SERVER),
  listen: z
    .string()
    .refine((s) => parses(s, true), "must be host:port (port 0 picks a free one)")
    .default("0.0.0.0:0")
    .meta({ description: "UDP address the data plane binds" }),
  // The registry's own schema, reserved names included: a name it would refuse at every start is refused here, where it is set.
  hostname: Hostname.nullable().default(null),
  public: z.boolean().default(false),
  enroll: EnrollmentKey.optional(),
});
export type Config = z.infer<typeof Config>;

export const loadConfig = (path: string): Config => readJson(path, Config, "the config file") ?? Config.parse({});
export const saveConfig = (path: string, config: Config) => writeJson(path, config);

/** The settings `daemon start` and `init` take as flags (SETTINGS in cli/commands/daemon.ts). */
export type DaemonFlags = { registry?: string; hostname?: string; public?: boolean; private?: boolean; enroll?: string; stun?: string; listen?: string };

/**
 * The stored config with the flags applied, checked; nothing is written (`writeConfig` saves it,
 * so the next start remembers them). A setting refused here leaves the home as it was.
 */
export function withFlags(configPath: string, flags: DaemonFlags): Config {
  const current = loadConfig(configPath);
  const next = Config.safeParse({
    ...current,
    ...(flags.registry !== undefined && { registry: flags.registry }),
    ...(flags.hostname !== undefined && { hostname: flags.hostname }),
    ...(flags.public && { public: true }),
    ...(flags.private && { public: false }),
    ...(flags.enroll !== undefined && { enroll: flags.enroll }),
    ...(flags.stun !== undefined && { stun: flags.stun }),
    ...(flags.listen !== undefined && { listen: flags.listen }),
  });
  if (!next.success) {
    const issue = next.error.issues[0];
    throw new PilotError("invalid_argument", `--${issue?.path.join(".")}: ${issue?.message}`, "run pilotctl init --help for the settings and their form");
  }
  return next.data;
}

/** Saves checked settings, making the home first if it is missing: only now, once nothing was refused. */
export function writeConfig(paths: HomePaths, config: Config): void {
  ensureHome(paths.dir);
  saveConfig(paths.config, config);
}

/** How to set the registry, for every error that finds none or a bad one. */
const SET_REGISTRY = "run pilotctl init --registry https://<your registry> (or pass --registry, or set PILOT_REGISTRY); for a registry started here with npm start, that is http://localhost:8787";

/**
 * The registry a daemon uses: the --registry flag, else PILOT_REGISTRY (as in the reference Pilot,
 * but a URL here, not host:port), else config.json's.
 */
export function effectiveRegistry(config: Config, flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env["PILOT_REGISTRY"] || undefined;
  if (flag === undefined && fromEnv !== undefined && !RegistryUrl.safeParse(fromEnv).success) {
    throw new PilotError("invalid_argument", `PILOT_REGISTRY must be the registry's http(s) URL, not ${JSON.stringify(fromEnv)}`, SET_REGISTRY);
  }
  const url = flag ?? fromEnv ?? config.registry;
  if (url === undefined) throw new PilotError("no_registry", "no registry is configured", SET_REGISTRY);
  return url;
}
