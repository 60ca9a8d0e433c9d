/**
 * A WireGuard tunnel across the path lab's veth, run by wireguard-go: a userspace tunnel like our
 * daemon's, encrypting every packet, so its throughput on the same veth is the data plane's yardstick.
 *
 * Each end runs `wireguard-go -f <interface>` in its namespace (a TUN device there) and is set up
 * with `wg set`: fresh keys, the other end's veth address as its endpoint, the other end's tunnel
 * address as its allowed IPs. The interfaces' MTU is the veth's minus 80 bytes, the room wg-quick
 * leaves for WireGuard's header over IPv6 (40 IPv6 + 8 UDP + 32 WireGuard), so nothing fragments.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineProcess, run } from "./command.ts";
import { PATH, type PathLab } from "./path-lab.ts";
import { waitFor } from "../wait.ts";

/** The tunnel's own addresses, from TEST-NET-1. */
export const TUNNEL = { a: "192.0.2.1", b: "192.0.2.2" } as const;
export const WIREGUARD_OVERHEAD = 80;
const PORT = 51820;
/** wireguard-go refuses to start where the kernel has WireGuard of its own unless told this. */
const USERSPACE_ENV = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" };

interface End {
  side: "a" | "b";
  name: string;
  process: LineProcess;
}

export class WireGuard {
  readonly #lab: PathLab;
  readonly #ends: End[];

  private constructor(lab: PathLab, ends: End[]) {
    this.#lab = lab;
    this.#ends = ends;
  }

  /**
   * Starts both ends and waits until each has its interface, then configures them for the veth's
   * present MTU. The interface names are the lab's (wireguard-go's control sockets are files in
   * /var/run/wireguard, shared by every namespace, so two labs' names must differ).
   */
  static async start(lab: PathLab): Promise<WireGuard> {
    const stem = lab.lab.prefix.replace(/^nl-/, "wg").replace(/-/g, "");
    const ends: End[] = (["a", "b"] as const).map((side) => ({
      side,
      name: `${stem}${side}`,
      process: new LineProcess([...lab[side].ns.exec, "wireguard-go", "-f", `${stem}${side}`], { ...process.env, ...USERSPACE_ENV }),
    }));
    const wg = new WireGuard(lab, ends);
    const dir = mkdtempSync(join(tmpdir(), "pilot-wireguard-"));
    try {
      for (const end of ends) {
        await waitFor(() => !end.process.running || existsSync(`/var/run/wireguard/${end.name}.sock`), `wireguard-go to make ${end.name}`, 30_000);
        if (!end.process.running) throw new Error(`wireguard-go ${end.name} ended at start-up`);
      }
      const keys = await Promise.all(ends.map(async () => {
        const secret = (await run(["wg", "genkey"])).trim();
        return { secret, public: (await run(["wg", "pubkey"], secret)).trim() };
      }));
      for (const [i, end] of ends.entries()) {
        const other = ends[1 - i]!;
        const ns = lab[end.side].ns;
        // wg reads the private key from a file only; a pipe from this process is a socket, which it cannot open.
        const keyFile = join(dir, end.name);
        writeFileSync(keyFile, keys[i]!.secret, { mode: 0o600 });
        await run([...ns.exec, "wg", "set", end.name, "listen-port", String(PORT), "private-key", keyFile, "peer", keys[1 - i]!.public, "allowed-ips", `${TUNNEL[other.side]}/32`, "endpoint", `${PATH[other.side]}:${PORT}`]);
        await ns.ip("addr", "add", `${TUNNEL[end.side]}/24`, "dev", end.name);
        await ns.ip("link", "set", end.name, "up");
      }
      await wg.fitMtu();
    } catch (e) {
      await wg.stop();
      throw e;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return wg;
  }

  /** The process IDs of wireguard-go at A and at B (`ip netns exec` runs it in its own process). */
  get pids(): { a: number; b: number } {
    return { a: this.#ends[0]!.process.child.pid!, b: this.#ends[1]!.process.child.pid! };
  }

  /** Sets both interfaces' MTU to the veth's, less WireGuard's overhead. */
  async fitMtu(): Promise<void> {
    const { a } = await this.#lab.mtu();
    await Promise.all(this.#ends.map((end) => this.#lab[end.side].ns.ip("link", "set", end.name, "mtu", String(a - WIREGUARD_OVERHEAD))));
  }

  /** Ends both wireguard-go processes (their interfaces and control sockets go with them). */
  async stop(): Promise<void> {
    await Promise.all(
      this.#ends.map((end) => {
        end.process.child.kill("SIGTERM");
        return end.process.stop();
      }),
    );
  }
}
