/** Test helpers that act as a node would: make a key, answer challenges, call the API. */
import { exports } from "cloudflare:workers";
import {
  authMessage,
  decodeRelayMessage,
  encodeBase64,
  encodeRelayMessage,
  type AuditUpdate,
  type AuthPurpose,
  type Network,
  type NodeEvent,
  type PresenceUpdate,
  type PushEvent,
  type RegisterResponse,
  type RelayFrame,
  type RevocationUpdate,
} from "@pilot/protocol";
import { checkDeclared } from "./declared-statuses.ts";

export const ORIGIN = "http://registry.test";

let clientCounter = 0;
/** A fresh client address, so tests never share a rate-limit bucket unless they mean to. */
export const freshIp = () => `198.51.${(++clientCounter >> 8) & 255}.${clientCounter & 255}`;

/**
 * Local rate limits count in windows aligned to the wall clock (miniflare's ratelimit object), so
 * a test that must exceed a limit waits out a window that is about to close.
 */
export async function awaitFreshRateWindow(periodMs = 60_000, needMs = 15_000): Promise<void> {
  const left = periodMs - (Date.now() % periodMs);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

export interface Identity {
  publicKey: string;
  sign(message: Uint8Array): Promise<string>;
  ip: string;
}

export async function makeIdentity(): Promise<Identity> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  return {
    publicKey: encodeBase64(raw),
    ip: freshIp(),
    sign: async (message) =>
      encodeBase64(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, message))),
  };
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  rawBody?: string;
  token?: string;
  ip?: string;
  headers?: Record<string, string>;
}

export async function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.ip) headers["cf-connecting-ip"] = opts.ip;
  if (opts.token) headers["authorization"] = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const request = new Request(`${ORIGIN}${path}`, { method: opts.method ?? (body === undefined ? "GET" : "POST"), headers, body });
  const res = await exports.default.fetch(request);
  await checkDeclared(request, res);
  return res;
}

export async function challengeFor(id: Identity): Promise<string> {
  const res = await call("/v1/auth/challenge", { body: { public_key: id.publicKey }, ip: id.ip });
  if (res.status !== 201) throw new Error(`challenge failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { challenge: string }).challenge;
}

export async function proof(id: Identity, purpose: AuthPurpose, challenge?: string) {
  const c = challenge ?? (await challengeFor(id));
  return { public_key: id.publicKey, challenge: c, signature: await id.sign(authMessage(purpose, ORIGIN, c)) };
}

export interface Registered extends Identity {
  nodeId: number;
  token: string;
}

export async function register(id?: Identity): Promise<Registered> {
  const identity = id ?? (await makeIdentity());
  const res = await call("/v1/nodes", { body: await proof(identity, "register"), ip: identity.ip });
  if (res.status !== 201 && res.status !== 200) throw new Error(`register failed: ${res.status} ${await res.text()}`);
  const reply = (await res.json()) as RegisterResponse;
  return { ...identity, nodeId: reply.node.node_id, token: reply.token.access_token };
}

export async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...body.error };
}

export interface Person {
  accountId: number;
  email: string;
  /** The session cookie, to send back as a Cookie header. */
  cookie: string;
  csrf: string;
  ip: string;
}

let accountCounter = 0;

/** Signs up a fresh account and keeps its session. */
export async function signUp(email = `person-${++accountCounter}-${crypto.randomUUID().slice(0, 8)}@example.com`): Promise<Person> {
  const ip = freshIp();
  const res = await call("/v1/accounts", { body: { email, password: "correct horse battery" }, ip });
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { account: { account_id: number }; csrf_token: string };
  return { accountId: body.account.account_id, email, cookie: sessionCookie(res), csrf: body.csrf_token, ip };
}

export function sessionCookie(res: Response): string {
  const set = res.headers.get("set-cookie") ?? "";
  const m = /pilot_session=[^;]+/.exec(set);
  if (!m) throw new Error(`no session cookie in ${JSON.stringify(set)}`);
  return m[0];
}

/** A call made by a person through the console: session cookie, CSRF token and same-origin. */
export function asPerson(p: Person, path: string, opts: CallOptions = {}): Promise<Response> {
  return call(path, { ...opts, headers: { cookie: p.cookie, "x-csrf-token": p.csrf, origin: ORIGIN, ...opts.headers } });
}

/** Creates a network as `owner` through the API. */
export async function createNetwork(owner: Person, body: { name?: string; join_rule?: "invite" | "token"; token?: string } = {}) {
  const res = await asPerson(owner, "/v1/networks", {
    body: { name: body.name ?? `net-${crypto.randomUUID().slice(0, 8)}`, join_rule: body.join_rule ?? "token", ...(body.token ? { token: body.token } : {}) },
  });
  if (res.status !== 201) throw new Error(`create network failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Network;
}

/** Registers a node with one of `owner`'s enrollment keys, so the owner's networks may add it directly. */
export async function enrolledNode(owner: Person): Promise<Registered> {
  const keyRes = await asPerson(owner, "/v1/account/enrollment-keys", { body: { description: "test" } });
  const { key } = (await keyRes.json()) as { key: string };
  const identity = await makeIdentity();
  const res = await call("/v1/nodes", { body: { ...(await proof(identity, "register")), enrollment_key: key }, ip: identity.ip });
  if (res.status !== 201) throw new Error(`enrolment failed: ${res.status} ${await res.text()}`);
  const reply = (await res.json()) as RegisterResponse;
  return { ...identity, nodeId: reply.node.node_id, token: reply.token.access_token };
}

export const addMember = (owner: Person, networkId: number, node: string | number) =>
  asPerson(owner, `/v1/networks/${networkId}/members`, { body: { node: String(node) } });

export const join = (n: Registered, networkId: number, token: string) =>
  call(`/v1/networks/${networkId}/join`, { body: { token }, token: n.token });

/** The credential a WebSocket route is opened with: a node's token, or a person's console session. */
const asNode = (n: Registered) => ({ authorization: `Bearer ${n.token}` });
const asOwner = (p: Person) => ({ cookie: p.cookie, origin: ORIGIN });

/**
 * Opens a WebSocket route with these credentials, handing each message to `read`; `until(done)`
 * waits (5 s at most) for a condition that messages or the close make true.
 */
async function connect(path: string, credentials: Record<string, string>, read: (data: string | ArrayBuffer) => void) {
  const request = new Request(`${ORIGIN}${path}`, { headers: { upgrade: "websocket", ...credentials } });
  const res = await exports.default.fetch(request);
  await checkDeclared(request, res);
  const ws = res.webSocket;
  if (!ws) throw new Error(`no websocket: ${res.status} ${await res.text()}`);
  const waiters: (() => void)[] = [];
  let closed: { code: number; reason: string } | undefined;
  ws.addEventListener("message", (e) => {
    read(e.data as string | ArrayBuffer);
    waiters.splice(0).forEach((w) => w());
  });
  ws.addEventListener("close", (e) => {
    closed = { code: e.code, reason: e.reason };
    waiters.splice(0).forEach((w) => w());
  });
  // Binary messages as bytes at once, not as Blobs to be read later (out of order).
  ws.binaryType = "arraybuffer";
  ws.accept();
  const until = async (done: () => boolean, what: () => string) => {
    const deadline = Date.now() + 5_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  return {
    ws,
    until,
    closed: () => closed,
    waitClosed: async () => {
      await until(() => closed !== undefined, () => "close");
      return closed!;
    },
  };
}

/** Opens a JSON WebSocket route and collects what arrives; `next(type)` waits for one. */
async function openSocket<E extends { type: string }>(path: string, credentials: Record<string, string>) {
  const events: E[] = [];
  const socket = await connect(path, credentials, (data) => {
    if (data !== "pong") events.push(JSON.parse(data as string) as E);
  });
  return {
    ...socket,
    events,
    next: async <T extends E["type"]>(type: T) => {
      await socket.until(() => events.some((e) => e.type === type), () => `${type}; got ${JSON.stringify(events)}`);
      return events.splice(events.findIndex((e) => e.type === type), 1)[0] as Extract<E, { type: T }>;
    },
  };
}

/** Opens a node's push channel to a network. */
export const openChannel = (n: Registered, networkId: number) => openSocket<PushEvent>(`/v1/networks/${networkId}/channel`, asNode(n));

/** Opens the owner's console view of a network (what the network page's live socket hears). */
export const openOwnerView = (owner: Person, networkId: number) =>
  openSocket<PushEvent | PresenceUpdate | AuditUpdate | RevocationUpdate | { type: "watching" }>(`/console/networks/${networkId}/live`, asOwner(owner));

/** Opens a node's own channel (handshakes, decisions, revocations). */
export const openNodeChannel = (n: Registered) => openSocket<NodeEvent>("/v1/nodes/self/channel", asNode(n));

/**
 * Opens a node's relay connection and collects what arrives: relay messages, decoded, and text
 * (`pong`). `next()` waits for the next relay message.
 */
export async function openRelay(n: Registered) {
  const messages: RelayFrame[][] = [];
  const texts: string[] = [];
  const socket = await connect("/v1/relay", asNode(n), (data) => {
    if (typeof data === "string") texts.push(data);
    else messages.push(decodeRelayMessage(new Uint8Array(data)) ?? []);
  });
  return {
    ...socket,
    messages,
    texts,
    send: (frames: RelayFrame[]) => socket.ws.send(encodeRelayMessage(frames)),
    next: async () => {
      await socket.until(() => messages.length > 0, () => "a relay message");
      return messages.shift()!;
    },
  };
}
