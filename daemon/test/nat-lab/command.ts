/**
 * Running the kernel's network tools (`ip`, `nft`) and programs inside network namespaces, and
 * waiting on what such a program prints.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** Runs a command to its end and returns its standard output; a failure carries its standard error. */
export function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.on("error", () => undefined).end(input ?? "");
  });
}

/** The argv prefix that runs a program inside network namespace `ns`. */
export const inNamespace = (ns: string): string[] => ["ip", "netns", "exec", ns];

/**
 * A long-running program: its stdout read line by line, so a test can wait for the line that says
 * it is ready (or for any other) instead of for a time. Its stderr is kept for error messages.
 */
export class LineProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  #stderr = "";
  #waiters = new Set<() => void>();
  #closed = false;
  #exited: Promise<number | null>;

  constructor(argv: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], env });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      this.#wake();
    });
    this.child.stderr!.on("data", (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-4000)));
    this.child.stdin!.on("error", () => undefined);
    // "close" comes after the last of its output, so a wait that fails on it has seen every line.
    this.#exited = new Promise((resolve) => {
      const end = (code: number | null) => {
        this.#closed = true;
        resolve(code);
        this.#wake();
      };
      this.child.on("close", end);
      // It could not be started at all (no such program): no "close" follows.
      this.child.on("error", (e) => {
        this.#stderr += e.message;
        if (this.child.pid === undefined) end(null);
      });
    });
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Resolves with what `find` makes of the lines printed so far, once that is not undefined; rejects
   * if the program ends first, or after `timeoutMs` (a guard against a hang, not a performance target).
   */
  waitFor<T>(find: (lines: readonly string[]) => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = find(this.lines);
        if (found !== undefined) return done(() => resolve(found));
        if (this.#closed) done(() => reject(new Error(`the program ended before ${what}: ${this.#stderr.trim()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${this.#stderr.trim()}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Writes one line to the program's standard input. */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Closes its standard input (the programs here take that as the signal to finish) and waits for it to end. */
  async stop(): Promise<void> {
    if (this.running) this.child.stdin!.end();
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
    await this.#exited;
    clearTimeout(killer);
  }
}
