/**
 * What a pilotctl command is: its name and aliases, its arguments and flags, what it does and
 * returns, an example, and the function that runs it. `pilotctl help`, `pilotctl <command> --help`
 * and `pilotctl context` are all printed from these, so the help people read and the description
 * agents read cannot drift apart from what the parser accepts.
 */
import { PilotError } from "../errors.ts";
import { MAX_NODE_ID, MAX_TRUST_TTL_SECONDS } from "@pilot/protocol";

/** Every flag pilotctl knows: its type for the parser and, for a flag with a value, how help shows it. */
export const FLAGS = {
  json: { type: "boolean" },
  help: { type: "boolean" },
  registry: { type: "string", value: "URL" },
  hostname: { type: "string", value: "NAME" },
  public: { type: "boolean" },
  private: { type: "boolean" },
  enroll: { type: "string", value: "KEY" },
  stun: { type: "string", value: "HOST:PORT|off" },
  listen: { type: "string", value: "HOST:PORT" },
  foreground: { type: "boolean" },
  set: { type: "string", value: "KEY=VALUE" },
  token: { type: "string", value: "TOKEN" },
  data: { type: "string", value: "TEXT" },
  type: { type: "string", value: "text|json|binary" },
  message: { type: "string", value: "TEXT" },
  count: { type: "string", value: "N" },
  timeout: { type: "string", value: "SECONDS" },
  check: { type: "boolean" },
  clear: { type: "boolean" },
  search: { type: "string", value: "TEXT" },
  ttl: { type: "string", value: "DURATION" },
} as const;

export type FlagName = keyof typeof FLAGS;
export type Flags = { [K in FlagName]?: (typeof FLAGS)[K]["type"] extends "boolean" ? boolean : string };

/** `--count N`, `--json`: a flag as usage lines show it. */
export const flagUsage = (name: FlagName): string => {
  const flag = FLAGS[name];
  return "value" in flag ? `--${name} ${flag.value}` : `--${name}`;
};

export type Group = "daemon" | "node" | "trust" | "networks" | "data" | "services" | "help";

/** A positional argument: `optional` ones may be left off the end. */
export interface Arg {
  name: string;
  optional?: boolean;
}

/** What a running command may use besides its arguments. */
export interface Invocation {
  args: string[];
  flags: Flags;
  /** Prints one line on stdout now: for commands that stream NDJSON until stopped. */
  line: (text: string) => void;
  /** Says something to a person on stderr (nothing under --json, which keeps stderr for errors). */
  say: (text: string) => void;
  /** Aborts when the user stops pilotctl (Ctrl-C, SIGTERM). */
  signal: AbortSignal;
}

export interface Command {
  /** One word, or two for a family (`daemon start`, `network list`). */
  name: string;
  /** Other names that run the same command (today's flat names, the reference's spellings). */
  aliases?: string[];
  group: Group;
  args: Arg[];
  /** The flags it takes, each with what it means here. */
  flags?: { [K in FlagName]?: string };
  description: string;
  /** The fields of `data` in the JSON answer. */
  returns: string;
  example: string;
  /** Where this command deliberately differs from the reference Pilot's. */
  differs?: string;
  /** How people see the answer, when it is not the JSON of `data` (help is text). */
  human?: (data: never) => string;
  /** Runs until stopped: Ctrl-C or SIGTERM aborts `signal` and ends it cleanly, exit code 0. */
  untilStopped?: true;
  /**
   * The `data` of the answer; `undefined` for a command that printed its own output line by line
   * (NDJSON) and has nothing more to say.
   */
  run(inv: Invocation): Promise<unknown>;
}

/** A mistake on the command line itself: exit code 2, as opposed to 1 for a failed command. */
export class UsageError extends PilotError {}

/** A usage error; without a hint of its own, pilotctl points at the command's help. */
export const usage = (message: string, hint = "") => new UsageError("invalid_argument", message, hint);

export function positiveInt(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^[1-9][0-9]*$/.test(text) || Number(text) > max) throw usage(`${what} must be a whole number from 1 to ${max}, not ${JSON.stringify(text ?? "")}`);
  return Number(text);
}

export const port = (text: string | undefined) => positiveInt(text, "port", 0xffff);
export const nodeId = (text: string | undefined) => positiveInt(text, "node_id", MAX_NODE_ID - 1);
export const networkId = (text: string | undefined) => positiveInt(text, "network_id", 0xffff);
/** --timeout in whole seconds, or `fallback` when it is not given. */
export const seconds = (flags: Flags, fallback: number) => (flags.timeout === undefined ? fallback : positiveInt(flags.timeout, "--timeout", 86_400));

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * --ttl as whole seconds (30s, 90m, 24h, 7d), or undefined when it is not given (trust without
 * end). At most a year; the registry sets the least (a minute unless its operator changed it).
 */
export function duration(flags: Flags): number | undefined {
  const text = flags.ttl;
  if (text === undefined) return undefined;
  const match = /^([1-9][0-9]{0,8})([smhd])$/.exec(text);
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS] : NaN;
  if (!(seconds <= MAX_TRUST_TTL_SECONDS)) {
    throw usage(`--ttl must be a whole number with a unit, s, m, h or d, up to 365d (e.g. 30m, 24h, 7d), not ${JSON.stringify(text)}`);
  }
  return seconds;
}

/** A required flag's value, or a usage error showing the command's example. */
export function required(flags: Flags, flag: "data" | "set", command: Command): string {
  const value = flags[flag];
  if (value === undefined) throw usage(`${command.name} needs --${flag}`, `e.g. ${command.example}`);
  return value;
}

export const synopsis = (c: Command): string =>
  ["pilotctl", c.name, ...c.args.map((a) => (a.optional ? `[${a.name}]` : `<${a.name}>`)), ...Object.keys(c.flags ?? {}).map((f) => `[${flagUsage(f as FlagName)}]`)].join(" ");
