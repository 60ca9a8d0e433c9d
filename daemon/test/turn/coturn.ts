/**
 * A real TURN server for tests: Debian's coturn (`turnserver`), started with no configuration
 * file, UDP only, shared-secret ("REST API") credentials, and ready once a real allocation
 * through it succeeds. The client tests run one on loopback; the NAT lab runs one in its internet
 * namespace (`launcher` puts it there).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TurnClient, type TurnServer } from "../../src/net/turn/client.ts";
import { restCredentials, type TurnCredential } from "./rest-credentials.ts";
import { waitFor } from "../wait.ts";

export interface CoturnOptions {
  /** The address it listens on and relays from (127.0.0.1). */
  address?: string;
  /** Its UDP port; a free one if not given. */
  port?: number;
  secret?: string;
  realm?: string;
  /** An argv prefix to start it with, such as `ip netns exec <namespace>`. */
  launcher?: string[];
  /** Whether peers on loopback may be relayed to (coturn refuses them unless told). */
  allowLoopbackPeers?: boolean;
}

export interface Coturn {
  server: TurnServer;
  realm: string;
  secret: string;
  /** Credentials the server accepts, good for `ttlSeconds`. */
  credentials(ttlSeconds?: number): TurnCredential;
  /** What it has printed (its log goes to stdout), for failure messages. */
  output(): string;
  close(): Promise<void>;
}

/** Whether coturn is installed: `.ci/run` installs it; a machine without it skips the tests that need it, saying why. */
export async function coturnUnavailable(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = spawn("turnserver", ["--version"], { stdio: "ignore" });
    probe.on("error", () => resolve("coturn is not installed: apt-get install -y coturn"));
    probe.on("close", () => resolve(undefined));
  });
}

async function freeUdpPort(address: string): Promise<number> {
  const socket = createSocket(address.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** Allocates through the server and lets the allocation go again: the proof that it is serving. */
async function allocates(server: TurnServer, credentials: TurnCredential, address: string): Promise<boolean> {
  const socket = createSocket(address.includes(":") ? "udp6" : "udp4");
  const client = new TurnClient({ send: (bytes, host, port) => socket.send(bytes, port, host), rtoMs: 100, maxTransmissions: 3 });
  socket.on("message", (msg) => client.receive(msg));
  try {
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    await client.allocate(server, credentials.username, credentials.credential);
    return true;
  } catch {
    return false;
  } finally {
    await client.close();
    socket.close();
  }
}

const START_MS = 30_000;

export async function startCoturn(options: CoturnOptions = {}): Promise<Coturn> {
  const address = options.address ?? "127.0.0.1";
  const port = options.port ?? (await freeUdpPort(address));
  const secret = options.secret ?? randomBytes(16).toString("hex");
  const realm = options.realm ?? "pilot.test";
  // Its own pid file and user database, so servers started side by side share nothing.
  const dir = mkdtempSync(join(tmpdir(), "coturn-"));
  const args = [
    "-n", // no configuration file: everything is on this command line
    `--listening-ip=${address}`,
    `--relay-ip=${address}`,
    `--listening-port=${port}`,
    "--use-auth-secret",
    `--static-auth-secret=${secret}`,
    `--realm=${realm}`,
    "--no-tcp",
    "--no-tls",
    "--no-dtls",
    "--no-tcp-relay",
    "--no-cli",
    "--fingerprint",
    "--log-file=stdout",
    "--simple-log",
    `--pidfile=${join(dir, "turnserver.pid")}`,
    `--userdb=${join(dir, "turndb")}`,
    ...(options.allowLoopbackPeers ? ["--allow-loopback-peers"] : []),
  ];
  const argv = [...(options.launcher ?? []), "turnserver", ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-16_000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  let ended = false;
  void exited.then(() => (ended = true));

  const server = { host: address, port };
  const close = async () => {
    if (!ended) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => {
      if (ended) throw new Error(`turnserver ended: ${output.slice(-2000)}`);
      return allocates(server, restCredentials(secret, 60), address);
    }, "coturn to allocate", START_MS, 50);
  } catch (e) {
    await close();
    throw e;
  }
  return { server, realm, secret, credentials: (ttl = 600) => restCredentials(secret, ttl), output: () => output, close };
}
