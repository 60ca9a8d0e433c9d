/** Every pilotctl command, in the order help lists them, and how a command line finds its command. */
import type { Command } from "../command.ts";
import { synopsis, usage } from "../command.ts";
import { describe } from "../context.ts";
import { commandHelp, overview } from "../help.ts";
import { nearest } from "../suggest.ts";
import { VERSION } from "../version.ts";
import { DAEMON_COMMANDS } from "./daemon.ts";
import { DATA_COMMANDS } from "./data.ts";
import { NETWORK_COMMANDS } from "./networks.ts";
import { NODE_COMMANDS } from "./node.ts";
import { SERVICE_COMMANDS } from "./services.ts";
import { TRUST_COMMANDS } from "./trust.ts";
import { WHY_COMMANDS } from "./why.ts";

const HELP_COMMANDS: Command[] = [
  {
    name: "help",
    group: "help",
    args: [{ name: "command", optional: true }, { name: "subcommand", optional: true }],
    description: "Every command at a glance, or one in full. pilotctl help <command> is the same as pilotctl <command> --help.",
    returns: "help (the text)",
    example: "pilotctl help send",
    human: (data: { help: string }) => data.help,
    run: async ({ args }) => ({ help: args.length ? helpFor(args) : overview(COMMANDS) }),
  },
  {
    name: "context",
    group: "help",
    args: [],
    description: "Every command described as JSON, for agents.",
    returns: "version, commands{<name>: {usage, args, flags, description, returns, example, aliases, differs_from_reference}}, error_codes, exit_codes, global_flags, environment, config_file",
    example: "pilotctl context --json",
    run: async () => describe(COMMANDS),
  },
  {
    name: "version",
    group: "help",
    args: [],
    description: "pilotctl's version",
    returns: "version",
    example: "pilotctl version",
    run: async () => ({ version: VERSION }),
  },
];

export const COMMANDS: Command[] = [...DAEMON_COMMANDS, ...NODE_COMMANDS, ...WHY_COMMANDS, ...TRUST_COMMANDS, ...NETWORK_COMMANDS, ...DATA_COMMANDS, ...SERVICE_COMMANDS, ...HELP_COMMANDS];

const BY_NAME = new Map(COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])].map((name) => [name, c] as const)));

/** The command a command line's words name (two words for a family such as `daemon start`), and its arguments. */
export function find(words: string[]): { command: Command; args: string[] } {
  const [first, second] = words;
  if (first === undefined) throw usage("no command given", "run pilotctl help for the commands");
  const two = second === undefined ? undefined : BY_NAME.get(`${first} ${second}`);
  if (two) return { command: two, args: words.slice(2) };
  const one = BY_NAME.get(first);
  if (one) return { command: one, args: words.slice(1) };
  const family = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (family.length) throw usage(`usage: pilotctl ${first} ${family.map((c) => c.name.split(" ")[1]).join("|")}`, `run pilotctl ${first} <${family.map((c) => c.name.split(" ")[1]).join("|")}> --help`);
  const meant = nearest(first, [...new Set([...BY_NAME.keys()].map((name) => name.split(" ")[0]!))]);
  throw usage(`unknown command "${first}"`, meant ? `did you mean pilotctl ${meant}? pilotctl help lists the commands` : "run pilotctl help for the commands");
}

/** Help for the command these words name, or for each command of a family (`pilotctl help daemon`). */
export function helpFor(words: string[]): string {
  const family = COMMANDS.filter((c) => words.length === 1 && c.name.startsWith(`${words[0]} `));
  if (family.length) return family.map((c) => `${synopsis(c)}\n  ${c.description}`).join("\n\n") + `\n\npilotctl ${words[0]} <${family.map((c) => c.name.split(" ")[1]).join("|")}> --help shows one in full.`;
  return commandHelp(find(words).command);
}
