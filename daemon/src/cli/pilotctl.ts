/**
 * pilotctl: the Pilot command set over the daemon's local socket. `--json` (anywhere) prints
 * `{"status":"ok","data":{…}}` on stdout, or `{"status":"error","code","message","hint"}` on stderr
 * with exit code 1; usage errors exit 2. `pilotctl help` and `pilotctl <command> --help` are for
 * people, `pilotctl context` for agents; all three come from the command table (commands/).
 */
import { parseArgs } from "node:util";
import { PilotError } from "../errors.ts";
import { FLAGS, UsageError, usage, type Command, type FlagName, type Flags } from "./command.ts";
import { COMMANDS, find, helpFor } from "./commands/index.ts";
import { commandHelp, overview } from "./help.ts";
import { nearest } from "./suggest.ts";
import { forTerminal } from "./terminal.ts";

/** The flags every command takes besides its own. */
const GLOBAL: FlagName[] = ["json", "help"];

/** Runs pilotctl with these arguments; returns the exit code. */
export async function pilotctl(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  let words: string[];
  let flags: Flags;
  try {
    const parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
    [words, flags] = [parsed.positionals, parsed.values];
  } catch (e) {
    return report(json, flagError(argv, e as Error), 2);
  }
  if (words.length === 0 && (flags.help || argv.length === 0)) return print(json, { help: overview(COMMANDS) }, (d) => d.help);
  let command: Command;
  let args: string[];
  try {
    if (flags.help) return print(json, { help: helpFor(words) }, (d) => d.help);
    ({ command, args } = find(words));
    check(command, args, flags);
  } catch (e) {
    return report(json, e as PilotError, 2, command!);
  }
  const stop = new AbortController();
  const onSignal = () => {
    // A command that runs until stopped ends cleanly; any other, or a second signal, ends now.
    if (!command.untilStopped || stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  try {
    const data = await command.run({
      args,
      flags,
      line: (text) => process.stdout.write(`${forTerminal(text)}\n`),
      say: json ? () => undefined : (text) => process.stderr.write(`${forTerminal(text)}\n`),
      signal: stop.signal,
    });
    return data === undefined ? 0 : print(json, data, command.human as ((data: unknown) => string) | undefined);
  } catch (e) {
    const err = e instanceof PilotError ? e : new PilotError("internal", e instanceof Error ? e.message : String(e), "run again with --json and report the output");
    return report(json, err, err instanceof UsageError ? 2 : 1, command);
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}

/**
 * A command line the parser refused, told in terms of the command it was for: an unknown flag
 * names the command's nearest flag if one is near (`--dat`: did you mean --data?), or the command
 * it is (`--version`: pilotctl version); any other refusal points at the command's help.
 */
function flagError(argv: string[], e: Error): PilotError {
  let command: Command | undefined;
  try {
    command = find(parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: false }).positionals).command;
  } catch {
    // No command named: the hints point at pilotctl help.
  }
  const help = command ? `pilotctl ${command.name} --help` : "pilotctl help";
  const unknown = /^Unknown option '(-{1,2}[^']+)'/.exec(e.message)?.[1];
  if (!unknown) return usage(e.message, `run ${help} for the flags`);
  const name = unknown.replace(/^-+/, "");
  const meant = nearest(name, command ? [...GLOBAL, ...Object.keys(command.flags ?? {})] : Object.keys(FLAGS));
  if (meant) return usage(`unknown flag ${unknown}`, `did you mean --${meant}? ${help} shows the flags`);
  if (!command && isCommand(name)) return usage(`unknown flag ${unknown}`, `${name} is a command: pilotctl ${name}`);
  return usage(`unknown flag ${unknown}`, `run ${help} for the flags`);
}

function isCommand(word: string): boolean {
  try {
    find([word]);
    return true;
  } catch {
    return false;
  }
}

/** Refuses a command line the command cannot take: too few or many arguments, or a flag it does not know. */
function check(command: Command, args: string[], flags: Flags): void {
  const most = command.args.at(-1)?.repeats ? Infinity : command.args.length;
  const least = command.args.filter((a) => !a.optional).length;
  const hint = `run pilotctl ${command.name} --help`;
  if (args.length < least || args.length > most) throw usage(`usage: ${commandHelp(command).split("\n")[0]!.slice("Usage: ".length)}`, hint);
  const foreign = (Object.keys(flags) as FlagName[]).find((f) => !GLOBAL.includes(f) && !(command.flags && f in command.flags));
  if (foreign) throw usage(`pilotctl ${command.name} takes no --${foreign}`, hint);
}

function print<T>(json: boolean, data: T, human?: (data: T) => string): number {
  process.stdout.write(`${forTerminal(json ? JSON.stringify({ status: "ok", data }) : human ? human(data) : typeof data === "object" && data !== null ? JSON.stringify(data, null, 2) : String(data))}\n`);
  return 0;
}

function report(json: boolean, error: PilotError, code: number, command?: Command): number {
  const e = error.hint || !command ? error : new PilotError(error.code, error.message, `run pilotctl ${command.name} --help`);
  process.stderr.write(`${forTerminal(json ? JSON.stringify({ status: "error", code: e.code, message: e.message, hint: e.hint }) : `error: ${e.message}\nhint:  ${e.hint}`)}\n`);
  return code;
}
