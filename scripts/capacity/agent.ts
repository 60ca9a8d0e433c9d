/**
 * A lightweight simulated agent for the capacity measures (docs/capacity.md): a real node (its own
 * Ed25519 key, registered with a signed proof, an access token) that speaks the registry's HTTP API
 * and holds WebSockets, but runs no daemon, no tunnels and no UDP. Thousands fit in one process.
 *
 * What an agent hears on a network's channel goes through a ChannelLog, which checks that nothing
 * was lost: membership events carry the network's revision, which grows by exactly one per change,
 * so a channel in sync sees every revision after its greeting's, in order, with no gap.
 */
import { authMessage, PushEvent } from "@pilot/protocol";
import { Identity } from "../../daemon/src/identity.ts";
import { openRegistrySocket, type WebSocket } from "../../daemon/src/net/registry-socket.ts";

/** What the registry answered that a measure did not expect. */
export class UnexpectedAnswer extends Error {
  override name = "UnexpectedAnswer";
}

let agents = 0;

/**
 * A client address per agent. The registry limits unauthenticated routes per address
 * (NODE_AUTH_LIMITER, 600 a minute); a real fleet comes from many addresses, and so do these.
 */
const nextAddress = () => {
  const n = ++agents;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

export class SimAgent {
  readonly registry: string;
  readonly nodeId: number;
  readonly token: string;
  readonly #address: string;

  private constructor(registry: string, nodeId: number, token: string, address: string) {
    this.registry = registry;
    this.nodeId = nodeId;
    this.token = token;
    this.#address = address;
  }

  /** A new key, a challenge, a signed proof: a node, as a daemon registers. */
  static async register(registry: string): Promise<SimAgent> {
    const identity = Identity.generate();
    const address = nextAddress();
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${registry}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": address },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new UnexpectedAnswer(`POST ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, any>;
    };
    const { challenge } = await post("/v1/auth/challenge", { public_key: identity.publicKey });
    const signature = identity.sign(authMessage("register", registry, challenge));
    const reply = await post("/v1/nodes", { public_key: identity.publicKey, challenge, signature });
    return new SimAgent(registry, reply["node"].node_id, reply["token"].access_token, address);
  }

  /** An authenticated call; resolves with the status after reading the body (so the socket is reused). */
  async call(method: string, path: string, body?: unknown): Promise<number> {
    return (await this.#send(method, path, body)).status;
  }

  async must(method: string, path: string, body?: unknown): Promise<void> {
    const { status, text } = await this.#send(method, path, body);
    if (status >= 300) throw new UnexpectedAnswer(`node ${this.nodeId}: ${method} ${path} answered ${status} ${text}`);
  }

  async #send(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const res = await fetch(`${this.registry}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        "cf-connecting-ip": this.#address,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  }

  join = (networkId: number, token: string) => this.must("POST", `/v1/networks/${networkId}/join`, { token });
  leave = (networkId: number) => this.must("POST", `/v1/networks/${networkId}/leave`);
  heartbeat = () => this.must("POST", "/v1/nodes/self/heartbeat", {});

  /** Opens the network's push channel; resolves once its greeting arrived. */
  openChannel(networkId: number, log: ChannelLog = new ChannelLog()): Promise<Channel> {
    const ws = openRegistrySocket(`${this.registry.replace(/^http/, "ws")}/v1/networks/${networkId}/channel`, this.token);
    return new Promise((resolve, reject) => {
      ws.addEventListener("message", (e) => {
        const data = String(e.data);
        if (data === "pong") return;
        log.receive(data, performance.now());
        if (log.revision !== undefined) resolve(new Channel(ws, log));
      });
      ws.addEventListener("close", (e) => {
        log.closed = e.code;
        reject(new UnexpectedAnswer(`node ${this.nodeId}: channel to network ${networkId} closed (${e.code}) before its greeting`));
      });
      ws.addEventListener("error", () => undefined); // a close follows
    });
  }

  /** Opens the node's relay connection; what arrives on it is counted, not kept. */
  openRelay(onMessage: (bytes: number) => void): Promise<WebSocket> {
    const ws = openRegistrySocket(`${this.registry.replace(/^http/, "ws")}/v1/relay`, this.token);
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") onMessage((e.data as ArrayBuffer).byteLength);
    });
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(ws));
      ws.addEventListener("close", (e) => reject(new UnexpectedAnswer(`node ${this.nodeId}: relay closed (${e.code})`)));
      ws.addEventListener("error", () => undefined);
    });
  }
}

/** An open push channel and what it has heard. */
export class Channel {
  readonly ws: WebSocket;
  readonly log: ChannelLog;

  constructor(ws: WebSocket, log: ChannelLog) {
    this.ws = ws;
    this.log = log;
  }

  /** A keep-alive, as daemons send every 20 s (answered by the registry without waking the object). */
  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send("ping");
  }

  close(): void {
    this.ws.close();
  }
}

/** A membership change as a channel heard it: which node, added or removed, when it arrived. */
export interface Heard {
  change: "added" | "removed";
  nodeId: number;
  revision: number;
  at: number;
}

/**
 * What one channel heard, checked as it arrives: the greeting's revision, then each membership
 * event's, which must be the next one. A revision out of sequence is a lost (or repeated) event;
 * a message that is not a PushEvent is counted as malformed.
 */
export class ChannelLog {
  /** The revision the channel is in sync with: the greeting's, then each change's. */
  revision: number | undefined;
  readonly heard: Heard[] = [];
  /** Revisions that never arrived (or arrived out of order): [expected, got]. */
  readonly gaps: [number, number][] = [];
  malformed = 0;
  other = 0;
  closed: number | undefined;
  /** Called with each membership change as it arrives (a measure waiting for one). */
  onChange?: (heard: Heard) => void;

  receive(data: string, at: number): void {
    let json: Record<string, any> | undefined;
    try {
      json = JSON.parse(data) as Record<string, any>;
    } catch {
      json = undefined;
    }
    const type = json?.["type"];
    // One process holds thousands of channels, each hearing every change: only
    // the greeting is checked against the whole schema; a membership event for the fields counted.
    if (type === "hello") {
      const hello = PushEvent.safeParse(json);
      if (hello.success && hello.data.type === "hello") this.revision = hello.data.revision;
      else this.malformed++;
      return;
    }
    if (type !== "member_added" && type !== "member_removed") {
      if (typeof type === "string") this.other++;
      else this.malformed++;
      return;
    }
    const event = json as { revision?: unknown; node_id?: unknown; member?: { node_id?: unknown } };
    const nodeId = type === "member_added" ? event.member?.node_id : event.node_id;
    if (typeof event.revision !== "number" || typeof nodeId !== "number") {
      this.malformed++;
      return;
    }
    if (this.revision !== undefined && event.revision !== this.revision + 1) this.gaps.push([this.revision + 1, event.revision]);
    this.revision = event.revision;
    const heard: Heard = { change: type === "member_added" ? "added" : "removed", nodeId, revision: event.revision, at };
    this.heard.push(heard);
    this.onChange?.(heard);
  }
}
