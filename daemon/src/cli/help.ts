/** Help for people, printed from the command table: every command at a glance, or one in full. */
import { flagUsage, synopsis, type Command, type FlagName, type Group } from "./command.ts";

const GROUPS: Record<Group, string> = {
  daemon: "Setting up and running the daemon",
  node: "This node",
  trust: "Trust",
  networks: "Networks",
  data: "Datagrams and streams",
  services: "Messages, files and events",
  help: "Help",
};

export const EXIT_CODES = "0 done · 1 the command failed (the error says why, its hint what to run next) · 2 the command line is wrong";

const GLOBAL = ["--json  print {\"status\":\"ok\",\"data\":{…}} on stdout, or the error as JSON on stderr", "--help  this command's help"];

const column = (rows: [string, string][]) => {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`).join("\n");
};

/** `pilotctl help`: the commands by group, one line each. */
export function overview(commands: Command[]): string {
  const sections = (Object.keys(GROUPS) as Group[]).flatMap((group) => {
    const members = commands.filter((c) => c.group === group);
    if (members.length === 0) return [];
    const oneLine = (c: Command) => c.description.split(/(?<=\.)\s/)[0]!.replace(/\.$/, "");
    return [`${GROUPS[group]}:\n${column(members.map((c) => [c.name, oneLine(c)]))}`];
  });
  return [
    "pilotctl: the Pilot agent daemon's command line.",
    "",
    "Usage: pilotctl <command> [arguments] [flags]",
    "",
    ...sections.flatMap((s) => [s, ""]),
    `Flags for every command:\n${column(GLOBAL.map((g) => g.split(/ {2}/) as [string, string]))}`,
    "",
    "Environment: PILOT_HOME (default ~/.pilot), PILOT_REGISTRY (the registry's URL), PILOT_SOCKET (the daemon's local socket).",
    `Exit codes: ${EXIT_CODES}.`,
    "",
    "pilotctl <command> --help shows one command in full; pilotctl context describes them all as JSON.",
  ].join("\n");
}

/** `pilotctl <command> --help`: usage, what it does and returns, its flags, an example, exit codes. */
export function commandHelp(c: Command): string {
  const flags = Object.entries(c.flags ?? {}).map(([name, what]) => [flagUsage(name as FlagName), what] as [string, string]);
  return [
    `Usage: ${synopsis(c)}`,
    ...(c.aliases ? [`Also: ${c.aliases.map((a) => `pilotctl ${a}`).join(", ")}`] : []),
    "",
    c.description,
    "",
    `Returns (data): ${c.returns}`,
    ...(flags.length ? ["", `Flags:\n${column(flags)}`] : []),
    "",
    `Example:\n  ${c.example}`,
    ...(c.differs ? ["", `Unlike the reference Pilot: ${c.differs}`] : []),
    "",
    `Exit codes: ${EXIT_CODES}.`,
  ].join("\n");
}
