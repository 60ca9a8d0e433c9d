/**
 * Network namespaces and the veth links between them. Every namespace of one lab is named after
 * the lab's prefix, which holds the process ID of the process that made it: a later lab removes
 * namespaces whose process is gone (a crashed run), and leaves those of labs still running.
 */
import { inNamespace, run } from "./command.ts";

/** `nl-<pid in base 36>-<n>`: short, because the root end of the lab's uplink is named after it (15 characters at most). */
const PREFIX = /^nl-([0-9a-z]+)-([0-9a-z]+)$/;
let labsMade = 0;

export function newPrefix(): string {
  return `nl-${process.pid.toString(36)}-${(labsMade++).toString(36)}`;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Names of all network namespaces on the machine. */
async function namespaceNames(): Promise<string[]> {
  const out = await run(["ip", "-j", "netns", "list"]);
  return out.trim() ? (JSON.parse(out) as { name: string }[]).map((n) => n.name) : [];
}

/** Removes the namespaces (and the programs in them) of labs whose process has ended. */
export async function removeStaleLabs(): Promise<string[]> {
  const stale = (await namespaceNames()).filter((name) => {
    const m = PREFIX.exec(name.split(".")[0]!);
    return m !== null && !alive(parseInt(m[1]!, 36));
  });
  await Promise.all(stale.map((name) => new Namespace(name).delete()));
  return stale;
}

/** One network namespace, driven with `ip -n`, `nft` inside it, and its /proc/sys. */
export class Namespace {
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  /** Makes the namespace with its loopback up. */
  static async create(name: string): Promise<Namespace> {
    await run(["ip", "netns", "add", name]);
    const ns = new Namespace(name);
    await ns.ip("link", "set", "lo", "up");
    return ns;
  }

  /** The argv prefix that runs a program in this namespace. */
  get exec(): string[] {
    return inNamespace(this.name);
  }

  ip(...args: string[]): Promise<string> {
    return run(["ip", "-n", this.name, ...args]);
  }

  /** Loads an nft script (`nft -f -`) in this namespace. */
  async nft(script: string): Promise<void> {
    await run([...this.exec, "nft", "-f", "-"], script);
  }

  /** `nft -j <args>` in this namespace, parsed. */
  async nftJson<T>(...args: string[]): Promise<T> {
    return JSON.parse(await run([...this.exec, "nft", "-j", ...args])) as T;
  }

  /** Sets a kernel parameter of this namespace, e.g. `net/ipv4/ip_forward`. */
  async sysctl(key: string, value: string | number): Promise<void> {
    // /proc/sys/net shows the namespace of the process reading it, so the write runs inside.
    await run([...this.exec, "tee", `/proc/sys/${key}`], String(value));
  }

  /**
   * Deletes the namespace, after ending the programs still in it (a daemon outlives the command
   * that started it). Its veths go with it, and so do their ends in other namespaces.
   */
  async delete(): Promise<void> {
    const pids = (await run(["ip", "netns", "pids", this.name]).catch(() => "")).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Ended meanwhile.
      }
    }
    await run(["ip", "netns", "del", this.name]).catch(() => undefined);
  }
}

/** A veth pair: `aName` inside `a` (or the root namespace), `bName` inside `b`, both up. */
export async function veth(a: Namespace | null, aName: string, b: Namespace, bName: string): Promise<void> {
  const add = ["link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name];
  await (a ? a.ip(...add) : run(["ip", ...add]));
  await (a ? a.ip("link", "set", aName, "up") : run(["ip", "link", "set", aName, "up"]));
  await b.ip("link", "set", bName, "up");
}

/** A bridge named `name` in `ns`, up. */
export async function bridge(ns: Namespace, name: string): Promise<void> {
  await ns.ip("link", "add", name, "type", "bridge");
  await ns.ip("link", "set", name, "up");
}
