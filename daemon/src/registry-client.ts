/**
 * The daemon's client for the registry's HTTP API. Requests and replies are typed and checked
 * with the same zod schemas the registry validates with; every failure is a RegistryError with
 * the registry's stable code (or `unreachable` / `bad_response`) and a hint for the user.
 */
import type { z } from "zod";
import {
  AccessToken,
  HandshakeDecision,
  HandshakeReply,
  PendingList,
  Revoked,
  TrustList,
  type NodeEvent,
  type PendingHandshake,
  type PushEvent,
  type TrustedPeer,
  authMessage,
  ChallengeResponse,
  ErrorBody,
  HeartbeatResponse,
  InvitationList,
  IssuedCertificate,
  Joined,
  MemberPage,
  MembershipList,
  parseJoinUrl,
  RegisterResponse,
  RegistryKeys,
  ResolvedNode,
  RotateKeyResponse,
  keyRotationMessage,
  PendingCutList,
  ReceiptRecorded,
  revocationReceiptMessage,
  RevocationSummary,
  SelfNode,
  TagsResponse,
  TurnCredentials,
  type AuthPurpose,
  type ErrorCode,
  type HeartbeatRequest,
  type Invitation,
  type Member,
  type Membership,
  type PendingCut,
  type ProofRequest,
  type UpdateSelfRequest,
} from "@pilot/protocol";
import { LiveChannel, networkProtocol, nodeProtocol, type ChannelOptions } from "./live-channel.ts";
import { RelayLink, type RelayLinkOptions } from "./net/relay-link.ts";
import { PilotError } from "./errors.ts";
import type { Identity } from "./identity.ts";

export type ClientErrorCode = ErrorCode | "unreachable" | "bad_response";

/** A registry error: the HTTP status and the registry's stable code (or unreachable/bad_response). */
export class RegistryError extends PilotError {
  override name = "RegistryError";
  override readonly code: ClientErrorCode;
  readonly status: number;

  constructor(status: number, code: ClientErrorCode, message: string, hint: string) {
    super(code, message, hint);
    this.code = code;
    this.status = status;
  }
}

/**
 * What to do next, for each registry error a person may meet through pilotctl: always a pilotctl
 * command or a person to ask, never an HTTP route (pilotctl's users never call those).
 */
const HINTS: Partial<Record<ClientErrorCode, string>> = {
  unreachable: "check the registry's URL (pilotctl config shows it, pilotctl config --set registry=URL changes it) and that the registry is running",
  bad_response: "the URL may not point at a Pilot registry: check it with pilotctl config",
  rate_limited: "wait a minute, then run the command again",
  hostname_taken: "try another: pilotctl set-hostname <other-name>",
  hostname_reserved: "try another: pilotctl set-hostname <other-name>",
  token_revoked: "the node was deregistered, or moved to a new key: pilotctl daemon status shows whether the daemon still runs; pilotctl daemon start starts it again (a deregistered node comes back as a new node)",
  token_expired: "run the command again: the daemon fetches a new token",
  node_not_registered: "start the daemon, which registers the node: pilotctl daemon start",
  node_suspended: "contact the registry's operator to have the node restored; the daemon keeps running and reconnects by itself once it is (pilotctl info shows registry_status)",
  account_suspended: "contact the registry's operator to have the account restored",
  not_found: "the node does not exist, or it is private and you share no network or trust with it: pilotctl handshake <node> \"why\" asks it for trust",
  invalid_target: "name the node by node ID, address (N:NNNN.HHHH.LLLL) or hostname",
  network_not_found: "the network does not exist or this node is not in it: pilotctl network list shows this node's networks",
  not_member: "pilotctl network list shows this node's networks",
  join_denied: "check the network ID and token, or ask the network's owner for a join URL: pilotctl network join <join URL>",
  plan_limit: "the network is full on its owner's plan; ask the owner",
  invitation_not_found: "pilotctl network invites lists this node's open invitations",
  revocation_not_found: "pilotctl untrust answers with the ID of the revocation it made; a node sees only revocations it is party to",
  no_pending_request: "pilotctl pending lists the requests waiting for this node",
  not_trusted: "pilotctl trust lists the peers this node trusts",
  ttl_too_short: "give a longer --ttl (the message says the registry's minimum), or leave --ttl out for trust without end",
  enrollment_key_invalid: "the enrollment key is wrong, used up or expired: make a new one in the console, then pilotctl config --set enroll=<key>",
  server_misconfigured: "tell the registry's operator",
  address_space_exhausted: "tell the registry's operator",
  internal: "tell the registry's operator; pilotctl daemon status shows which registry this is",
  turn_not_configured: "peers without a direct path are relayed over the registry's WebSocket relay",
  turn_unavailable: "the WebSocket relay carries the traffic meanwhile; ask again later",
};

export interface RegistryClientOptions {
  /** Base URL of the registry, e.g. http://localhost:8787 */
  url: string;
  identity: Identity;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Refresh the access token this long before it expires. */
const TOKEN_MARGIN_MS = 60_000;

export class RegistryClient {
  readonly #base: URL;
  /** This node's identity key: it changes only when the node moves to a new one (rotateKey). */
  #identity: Identity;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #token: AccessToken | undefined;
  /** The registry's words when it last refused this node as suspended; null once it gives a token again. */
  #suspension: string | null = null;
  /** A key rotation's request, while the registry has not answered it. */
  #rotating: Promise<unknown> | undefined;

  constructor(options: RegistryClientOptions) {
    this.#base = new URL(options.url);
    this.#identity = options.identity;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Why the registry's operator suspended this node, as the registry said, while it refuses the node; else null. */
  get suspension(): string | null {
    return this.#suspension;
  }

  /** The current access token, if the client holds one. */
  get accessToken(): string | undefined {
    return this.#token?.access_token;
  }

  /**
   * Registers this identity (or finds its existing node) and keeps the access token it returns.
   * With an enrollment key, the key's account becomes the node's owner.
   */
  async register(enrollmentKey?: string): Promise<RegisterResponse> {
    const body = { ...(await this.#prove("register")), ...(enrollmentKey ? { enrollment_key: enrollmentKey } : {}) };
    const reply = await this.#send("POST", "/v1/nodes", RegisterResponse, { body });
    this.#token = reply.token;
    this.#suspension = null;
    return reply;
  }

  /** Gets a fresh access token for an already registered identity. */
  async authenticate(): Promise<AccessToken> {
    this.#token = await this.#send("POST", "/v1/auth/token", AccessToken, { body: await this.#prove("token") });
    this.#suspension = null;
    return this.#token;
  }

  self(): Promise<SelfNode> {
    return this.#authed("GET", "/v1/nodes/self", SelfNode);
  }

  update(changes: UpdateSelfRequest): Promise<SelfNode> {
    return this.#authed("PATCH", "/v1/nodes/self", SelfNode, changes);
  }

  /** Sets the tags this node requests for itself, in every network that lets them count. */
  setTags(tags: string[]): Promise<TagsResponse> {
    return this.#authed("PUT", "/v1/nodes/self/tags", TagsResponse, { tags });
  }

  heartbeat(report: HeartbeatRequest = {}): Promise<HeartbeatResponse> {
    return this.#authed("POST", "/v1/nodes/self/heartbeat", HeartbeatResponse, report);
  }

  /** Resolves a node by node ID, Pilot address or hostname. */
  resolve(target: string | number): Promise<ResolvedNode> {
    return this.#authed("GET", `/v1/resolve/${encodeURIComponent(String(target))}`, ResolvedNode);
  }

  /** Resolves a node and has the registry tell it to probe this node back (hole punching). */
  requestPath(target: number): Promise<ResolvedNode> {
    return this.#authed("POST", `/v1/paths/${target}`, ResolvedNode);
  }

  // ── Certificates ──

  /** The keys the registry signs node certificates with (no token needed). */
  async registryKeys(): Promise<RegistryKeys["keys"]> {
    return (await this.#send("GET", "/v1/registry/keys", RegistryKeys, {})).keys;
  }

  /** A fresh certificate of this node's ID and identity key. */
  certificate(): Promise<IssuedCertificate> {
    return this.#authed("POST", "/v1/nodes/self/certificate", IssuedCertificate);
  }

  // ── Networks ──

  /**
   * Credentials for the operator's TURN service (docs/turn.md): `turn_not_configured` (404) when the
   * registry has none, `turn_unavailable` (503) when the service did not issue them.
   */
  turnCredentials(): Promise<TurnCredentials> {
    return this.#authed("POST", "/v1/relay/turn", TurnCredentials);
  }

  async networks(): Promise<Membership[]> {
    return (await this.#authed("GET", "/v1/nodes/self/networks", MembershipList)).networks;
  }

  /** Joins a token-gated network by ID and token, or by a join URL (which must name this registry). */
  async joinNetwork(target: number | string, token?: string): Promise<Joined> {
    let networkId: number;
    if (typeof target === "string") {
      let link;
      try {
        link = parseJoinUrl(target);
      } catch (e) {
        throw new RegistryError(0, "invalid_request", e instanceof Error ? e.message : String(e), "pilotctl network join <join URL> with the URL exactly as the console shows it, or pilotctl network join <network_id> --token <token>");
      }
      if (link.registry !== this.#base.origin) {
        throw new RegistryError(0, "invalid_request", `this join URL is for the registry at ${link.registry}, not ${this.#base.origin}`, `point this node at that registry: pilotctl config --set registry=${link.registry}, then pilotctl daemon stop and pilotctl daemon start`);
      }
      networkId = link.networkId;
      token = link.token;
    } else {
      networkId = target;
    }
    if (!token) throw new RegistryError(0, "invalid_request", "a join token is required", "pilotctl network join <network_id> --token <token>, or pilotctl network join <join URL>");
    return this.#authed("POST", `/v1/networks/${networkId}/join`, Joined, { token });
  }

  async leaveNetwork(networkId: number): Promise<void> {
    await this.#authed("POST", `/v1/networks/${networkId}/leave`, null);
  }

  /** One page of a network's members; pass `next_cursor` back for the next. */
  members(networkId: number, page: { cursor?: string; limit?: number } = {}): Promise<MemberPage> {
    const query = new URLSearchParams();
    if (page.cursor) query.set("cursor", page.cursor);
    if (page.limit) query.set("limit", String(page.limit));
    const suffix = query.size ? `?${query}` : "";
    return this.#authed("GET", `/v1/networks/${networkId}/members${suffix}`, MemberPage);
  }

  /** Every member of a network, reading page after page. */
  async allMembers(networkId: number): Promise<Member[]> {
    const all: Member[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.members(networkId, { cursor, limit: 500 });
      all.push(...page.members);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }

  async invitations(): Promise<Invitation[]> {
    return (await this.#authed("GET", "/v1/invitations", InvitationList)).invitations;
  }

  acceptInvitation(networkId: number): Promise<Joined> {
    return this.#authed("POST", `/v1/invitations/${networkId}/accept`, Joined);
  }

  async declineInvitation(networkId: number): Promise<void> {
    await this.#authed("POST", `/v1/invitations/${networkId}/decline`, null);
  }

  /** Opens (and keeps open) the push channel of a network this node belongs to. */
  channel(networkId: number, handlers: ChannelHandlers<PushEvent>): LiveChannel<PushEvent> {
    return new LiveChannel({
      ...handlers,
      protocol: networkProtocol,
      url: this.#socketUrl(`/v1/networks/${networkId}/channel`),
      token: () => this.bearer(),
      stillMember: async () => (await this.networks()).some((n) => n.network_id === networkId),
      isFatal: isGone,
    }).start();
  }

  /** Opens (and keeps open) the node's own channel: handshake requests, decisions, revocations. */
  nodeChannel(handlers: ChannelHandlers<NodeEvent>): LiveChannel<NodeEvent> {
    return new LiveChannel({
      ...handlers,
      protocol: nodeProtocol,
      url: this.#socketUrl("/v1/nodes/self/channel"),
      token: () => this.bearer(),
      isFatal: isGone,
    }).start();
  }

  /** The node's relay connection (net/relay-link.ts), not started yet. */
  relayLink(options: Pick<RelayLinkOptions, "onFrame" | "log">): RelayLink {
    return new RelayLink({ ...options, url: this.#socketUrl("/v1/relay"), token: () => this.bearer(), isFatal: isGone });
  }

  #socketUrl(path: string): string {
    const url = new URL(path, this.#base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  // ── Trust ──

  /** Asks a node (by node ID, address or hostname) for trust, lasting `ttlSeconds` once approved (undefined: without end). */
  handshake(target: string | number, justification: string, ttlSeconds?: number): Promise<HandshakeReply> {
    return this.#authed("POST", "/v1/handshakes", HandshakeReply, { target: String(target), justification, ttl_seconds: ttlSeconds });
  }

  async pendingHandshakes(): Promise<PendingHandshake[]> {
    return (await this.#authed("GET", "/v1/handshakes/pending", PendingList)).pending;
  }

  /** Approves a request, for at most `ttlSeconds` if given; returns when the trust ends (null: never). */
  async approveHandshake(nodeId: number, ttlSeconds?: number): Promise<string | null> {
    const body = ttlSeconds === undefined ? undefined : { ttl_seconds: ttlSeconds };
    return (await this.#authed("POST", `/v1/handshakes/${nodeId}/approve`, HandshakeDecision, body)).expires_at ?? null;
  }

  async rejectHandshake(nodeId: number, reason = ""): Promise<void> {
    await this.#authed("POST", `/v1/handshakes/${nodeId}/reject`, HandshakeDecision, { reason });
  }

  async trusted(): Promise<TrustedPeer[]> {
    return (await this.#authed("GET", "/v1/trust", TrustList)).trusted;
  }

  /** Revokes trust; both daemons confirm their cut-off under the revocation ID the answer carries. */
  untrust(nodeId: number): Promise<Revoked> {
    return this.#authed("DELETE", `/v1/trust/${nodeId}`, Revoked);
  }

  // ── Revocation receipts ──

  /** A revocation this node is party to (its own untrust, say): how many daemons confirmed their cut-off. */
  revocation(revocationId: string): Promise<RevocationSummary> {
    return this.#authed("GET", `/v1/revocations/${encodeURIComponent(revocationId)}`, RevocationSummary);
  }

  /** The cut-offs this node has not confirmed to the registry yet, newest first (100 at most). */
  async pendingCuts(): Promise<PendingCut[]> {
    return (await this.#authed("GET", "/v1/nodes/self/revocations", PendingCutList)).revocations;
  }

  /** Confirms, signed with the identity key, that node `nodeId` (this one) had cut `peer` off by `cutAt`. */
  confirmCut(cut: PendingCut, nodeId: number, cutAt: string): Promise<ReceiptRecorded> {
    const signature = this.#identity.sign(revocationReceiptMessage(this.#base.origin, cut.revocation_id, nodeId, cut.peer, cutAt));
    return this.#authed("POST", `/v1/revocations/${cut.revocation_id}/receipts`, ReceiptRecorded, { peer: cut.peer, cut_at: cutAt, signature });
  }

  /** A current access token, fetched anew when the held one is close to expiry. */
  async bearer(): Promise<string> {
    // The registry closes this node's channels as it makes a rotation, before its answer arrives:
    // they must reconnect with the token that answer carries, not the one it revoked.
    await this.#rotating?.catch(() => undefined);
    if (!this.#token || Date.parse(this.#token.expires_at) - this.#now() < TOKEN_MARGIN_MS) await this.authenticate();
    return this.#token!.access_token;
  }

  /**
   * Moves this node (`nodeId`) to the identity key `next`, proving both keys: a challenge for the new key, and
   * the rotation statement signed by each. Once the registry answers, this client speaks with the new
   * key and the token the answer carries (the registry revoked every earlier one), before anything
   * else can use the old ones.
   */
  async rotateKey(nodeId: number, next: Identity): Promise<RotateKeyResponse> {
    const { challenge } = await this.#send("POST", "/v1/auth/challenge", ChallengeResponse, { body: { public_key: next.publicKey } });
    const statement = keyRotationMessage(this.#base.origin, nodeId, this.#identity.publicKey, next.publicKey, challenge);
    const body = { public_key: next.publicKey, challenge, signature: next.sign(statement), previous_signature: this.#identity.sign(statement) };
    const token = await this.bearer();
    const rotating = this.#send("POST", "/v1/nodes/self/key", RotateKeyResponse, { body, token });
    this.#rotating = rotating;
    let reply: RotateKeyResponse;
    try {
      reply = await rotating;
    } finally {
      this.#rotating = undefined;
    }
    this.#identity = next;
    this.#token = reply.token;
    return reply;
  }

  /** Speaks from now on with `identity`, which the registry already holds for this node (a rotation whose answer was lost). */
  useIdentity(identity: Identity): void {
    this.#identity = identity;
    this.#token = undefined;
  }

  async deregister(): Promise<void> {
    await this.#authed("DELETE", "/v1/nodes/self", null);
    this.#token = undefined;
  }

  async #prove(purpose: AuthPurpose): Promise<ProofRequest> {
    const public_key = this.#identity.publicKey;
    const { challenge } = await this.#send("POST", "/v1/auth/challenge", ChallengeResponse, { body: { public_key } });
    const signature = this.#identity.sign(authMessage(purpose, this.#base.origin, challenge));
    return { public_key, challenge, signature };
  }

  /** Sends with a valid access token, getting a new one first if needed and once more if it expired in flight. */
  async #authed<T>(method: string, path: string, schema: z.ZodType<T> | null, body?: unknown): Promise<T> {
    const token = await this.bearer();
    try {
      return await this.#send(method, path, schema, { body, token });
    } catch (e) {
      if (!(e instanceof RegistryError) || e.code !== "token_expired") throw e;
      await this.authenticate();
      return this.#send(method, path, schema, { body, token: this.#token!.access_token });
    }
  }

  async #send<T>(
    method: string,
    path: string,
    schema: z.ZodType<T> | null,
    { body, token }: { body?: unknown; token?: string },
  ): Promise<T> {
    const url = new URL(path, this.#base);
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers["authorization"] = `Bearer ${token}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      // The answer's body can fail or time out as its head can.
      text = await res.text();
    } catch (e) {
      const why = e instanceof Error && e.name === "TimeoutError" ? `timed out after ${this.#timeoutMs} ms` : "connection failed";
      throw new RegistryError(0, "unreachable", `cannot reach the registry at ${this.#base.origin}: ${why}`, HINTS.unreachable!);
    }
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const parsed = ErrorBody.safeParse(data);
      if (!parsed.success) throw badResponse(res.status, this.#base);
      const { code, message } = parsed.data.error;
      if (code === "node_suspended") {
        // The token held was revoked by the suspension: the next call asks for a new one, which
        // the registry gives again once the node is restored.
        this.#token = undefined;
        this.#suspension = message;
      }
      throw new RegistryError(res.status, code, message, HINTS[code] ?? "run the command again with --json and show the output to the registry's operator");
    }
    if (schema === null) return undefined as T;
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw badResponse(res.status, this.#base);
    return parsed.data;
  }
}

export type ChannelHandlers<E extends { type: string }> = Pick<
  ChannelOptions<E>,
  "onEvent" | "onResync" | "onEnd" | "onDisconnect" | "initialBackoffMs" | "maxBackoffMs" | "pingIntervalMs"
>;

/** The node no longer exists at the registry: nothing a retry can fix. */
export const isGone = (e: unknown) => e instanceof RegistryError && (e.code === "token_revoked" || e.code === "node_not_registered");

const badResponse = (status: number, base: URL) =>
  new RegistryError(status, "bad_response", `${base.origin} did not answer like a Pilot registry (HTTP ${status})`, HINTS.bad_response!);
