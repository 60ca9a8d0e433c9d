/**
 * A TURN client (RFC 8656) for one UDP allocation, over a socket it does not own: the daemon's one
 * data-plane socket carries tunnel frames, STUN and TURN, so the client is handed a `send` function
 * and fed, through `receive`, the datagrams that came from the TURN server's address.
 *
 * What it does: Allocate with long-term credentials (the 401 challenge, 438 stale nonces),
 * requests retransmitted over UDP as RFC 8489 §6.2.1 says with a bounded number of tries, responses
 * to authenticated requests accepted only with a valid MESSAGE-INTEGRITY; CreatePermission and
 * ChannelBind, each refreshed before it lapses while the peer is in use, and let go when it is not;
 * data out as ChannelData on a bound channel and as Send indications otherwise; data in from Data
 * indications and ChannelData; the allocation refreshed before its lifetime ends; Refresh with
 * lifetime 0 on close. Not here: TCP or TLS to the server, TCP relaying (RFC 6062), IPv6 relayed
 * addresses, EVEN-PORT/RESERVATION-TOKEN, DONT-FRAGMENT, and SASLprep of credentials.
 *
 * Time comes from `timers`, so tests can drive it; every timer is unref'd, so a forgotten client
 * keeps no process alive.
 */
import { randomBytes } from "node:crypto";
import { PilotError } from "../../errors.ts";
import {
  ATTR,
  decodeStun,
  encodeStun,
  errorCode,
  longTermKey,
  looksLikeStun,
  StunError,
  verifyFingerprint,
  verifyIntegrity,
  type StunAttributeValue,
  type StunMessage,
  type TransportAddress,
} from "../stun.ts";
import {
  channelNumber,
  coveredByIntegrity,
  data,
  decodeChannelData,
  encodeChannelData,
  FIRST_CHANNEL,
  LAST_CHANNEL,
  lifetime,
  lifetimeOf,
  looksLikeChannelData,
  METHOD,
  peerKey,
  requestedTransportUdp,
  text,
  textOf,
  TURN_ATTR,
  xorAddressOf,
  xorPeerAddress,
  type Peer,
} from "./messages.ts";

export type { Peer } from "./messages.ts";

export type TurnErrorCode =
  /** No answer after every retransmission. */
  | "turn_timeout"
  /** The server refused the credentials (401 after authenticating): wrong, or expired. */
  | "turn_unauthorized"
  /** Any other error response; `status` is the server's STUN error code (403, 437, 486, 508…). */
  | "turn_refused"
  /** A success response without what it must carry. */
  | "turn_bad_response"
  /** A call the client's state does not allow: allocate twice, permit before allocating, anything after close. */
  | "turn_state"
  /** The cap on permissions or channels is reached. */
  | "turn_limit"
  /** The client was closed, or lost its allocation, while the request was pending. */
  | "turn_closed";

const HINTS: Record<TurnErrorCode, string> = {
  turn_timeout: "the TURN server did not answer: check that UDP to it is allowed",
  turn_unauthorized: "get fresh TURN credentials from the registry and allocate again",
  turn_refused: "the TURN server refused the request; the status says why",
  turn_bad_response: "the TURN server answered something this client cannot use",
  turn_state: "allocate first, once per client",
  turn_limit: "release peers that are no longer used, or raise the cap",
  turn_closed: "allocate again with a new client",
};

export class TurnError extends PilotError {
  override name = "TurnError";
  override readonly code: TurnErrorCode;
  /** The STUN error code of the server's answer, when there was one. */
  readonly status: number | undefined;

  constructor(code: TurnErrorCode, message: string, status?: number) {
    super(code, message, HINTS[code]);
    this.code = code;
    this.status = status;
  }
}

export interface TurnTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: TurnTimers = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The TURN server: an IP address (the datagrams `receive` gets are matched to it by the caller) and a port. */
export interface TurnServer {
  host: string;
  port: number;
}

export interface Allocation {
  /** The address peers send to; the server relays what arrives there to us. */
  relayed: TransportAddress;
  /** Our own address as the server sees it (the NAT's mapping). */
  mapped: TransportAddress;
  /** Seconds the server granted; the client refreshes before they run out. */
  lifetime: number;
}

export interface TurnClientOptions {
  /** Sends a datagram to host:port on the shared socket. */
  send(bytes: Buffer, host: string, port: number): void;
  timers?: TurnTimers;
  /** The first retransmission timeout, doubled at each retransmission (RFC 8489: 500 ms). */
  rtoMs?: number;
  /** Transmissions of one request before it fails with turn_timeout (RFC 8489's Rc: 7). */
  maxTransmissions?: number;
  /** The most peer addresses with a permission at once. */
  maxPermissions?: number;
  /** The most channels bound at once. */
  maxChannels?: number;
}

export type DataHandler = (peer: Peer, bytes: Buffer) => void;
export type CloseHandler = (error: TurnError | undefined) => void;

/** Lifetimes fixed by RFC 8656 (§9, §12). */
const PERMISSION_SECONDS = 300;
const CHANNEL_SECONDS = 600;
/** Refresh this long before something lapses: room for a request's retransmissions. */
const REFRESH_MARGIN_SECONDS = 60;
/** A channel number stays unused this long after its binding lapsed (RFC 8656 §12: 5 minutes). */
const CHANNEL_REUSE_MS = (CHANNEL_SECONDS + 300) * 1000;
/** Answers to a challenge (401, 438) followed before giving up on one request. */
const MAX_CHALLENGES = 3;
/** RFC 8489's Rm: after the last transmission, wait this many initial RTOs. */
const FINAL_WAIT_RTOS = 16;
/** A lifetime beyond this is taken as this, so timers stay in range whatever the server says. */
const MAX_LIFETIME_SECONDS = 86_400;

interface Auth {
  realm: string;
  nonce: string;
  key: Buffer;
}

interface Pending {
  key: Buffer | undefined;
  resolve(m: StunMessage): void;
  reject(e: TurnError): void;
  timer: unknown;
}

interface Permission {
  installed: boolean;
  /** The request under way (first install or refresh). */
  pending: Promise<void> | undefined;
  installedAt: number;
  lastUsed: number;
  timer: unknown;
}

interface Channel {
  number: number;
  peer: Peer;
  bound: boolean;
  pending: Promise<number> | undefined;
  installedAt: number;
  lastUsed: number;
  timer: unknown;
}

type State = "idle" | "allocating" | "allocated" | "closed";

export class TurnClient {
  readonly #send: TurnClientOptions["send"];
  readonly #timers: TurnTimers;
  readonly #rtoMs: number;
  readonly #maxTransmissions: number;
  readonly #maxPermissions: number;
  readonly #maxChannels: number;

  #state: State = "idle";
  #server: TurnServer | undefined;
  #username = "";
  #password = "";
  #auth: Auth | undefined;
  #allocation: Allocation | undefined;
  #allocationTimer: unknown;
  readonly #pending = new Map<string, Pending>();
  readonly #permissions = new Map<string, Permission>();
  readonly #channels = new Map<string, Channel>();
  readonly #channelsByNumber = new Map<number, Channel>();
  /** Channel numbers whose binding lapsed, and when they may be bound again. */
  readonly #coolingChannels = new Map<number, number>();
  #nextChannel = FIRST_CHANNEL;
  #onData: DataHandler = () => undefined;
  #onClose: CloseHandler = () => undefined;
  #dropped = 0;

  constructor(options: TurnClientOptions) {
    this.#send = options.send;
    this.#timers = options.timers ?? realTimers;
    this.#rtoMs = options.rtoMs ?? 500;
    this.#maxTransmissions = options.maxTransmissions ?? 7;
    this.#maxPermissions = options.maxPermissions ?? 64;
    this.#maxChannels = options.maxChannels ?? 64;
  }

  /** The server this client allocated on (set by allocate). */
  get server(): TurnServer | undefined {
    return this.#server;
  }

  get allocation(): Allocation | undefined {
    return this.#allocation;
  }

  /** Datagrams from the server that were malformed, failed a check, or matched nothing. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Called for every datagram a peer sent to the relayed address. One handler; a new one replaces it. */
  onData(handler: DataHandler): void {
    this.#onData = handler;
  }

  /** Called once when the client closes: `error` when the allocation was lost (a refresh failed), undefined after close(). */
  onClose(handler: CloseHandler): void {
    this.#onClose = handler;
  }

  /**
   * Allocates a UDP relayed address on `server` with long-term credentials (as the registry hands
   * them out). The first request goes without credentials; the server's 401 names the realm and
   * nonce to use.
   */
  async allocate(server: TurnServer, username: string, credential: string): Promise<Allocation> {
    if (this.#state !== "idle") throw new TurnError("turn_state", `cannot allocate: this client is ${this.#state}`);
    this.#state = "allocating";
    this.#server = server;
    this.#username = username;
    this.#password = credential;
    try {
      const m = await this.#request(METHOD.ALLOCATE, () => [requestedTransportUdp()]);
      const relayed = xorAddressOf(m, TURN_ATTR.XOR_RELAYED_ADDRESS);
      const mapped = xorAddressOf(m, ATTR.XOR_MAPPED_ADDRESS);
      const granted = lifetimeOf(m);
      if (!relayed || !mapped || granted === undefined) throw new TurnError("turn_bad_response", "the Allocate answer lacks a relayed address, mapped address or lifetime");
      if (this.#state !== "allocating") throw new TurnError("turn_closed", "the client was closed while allocating");
      this.#allocation = { relayed, mapped, lifetime: granted };
      this.#state = "allocated";
      this.#scheduleAllocationRefresh(granted);
      return this.#allocation;
    } catch (e) {
      if (this.#state === "allocating") {
        this.#state = "idle";
        this.#auth = undefined;
      }
      throw e instanceof StunError ? new TurnError("turn_bad_response", `the Allocate answer is malformed: ${e.message}`) : e;
    }
  }

  /** Refreshes the allocation now (the client also does this by itself); resolves with the lifetime granted. */
  async refresh(): Promise<number> {
    this.#requireAllocated();
    const m = await this.#request(METHOD.REFRESH, () => []);
    const granted = lifetimeOf(m);
    if (granted === undefined) throw new TurnError("turn_bad_response", "the Refresh answer lacks a lifetime");
    if (this.#state === "allocated") {
      this.#allocation = { ...this.#allocation!, lifetime: granted };
      this.#scheduleAllocationRefresh(granted);
    }
    return granted;
  }

  /**
   * Lets datagrams from `peerIp` (any port) in through the relayed address, and lets us send to it.
   * Refreshed before its 5 minutes run out while the peer is in use; dropped when it is not.
   */
  permit(peerIp: string): Promise<void> {
    this.#requireAllocated();
    const existing = this.#permissions.get(peerIp);
    if (existing) {
      existing.lastUsed = this.#timers.now();
      return existing.pending ?? Promise.resolve();
    }
    if (this.#permissions.size >= this.#maxPermissions) throw new TurnError("turn_limit", `already ${this.#maxPermissions} permissions`);
    const permission: Permission = { installed: false, pending: undefined, installedAt: 0, lastUsed: this.#timers.now(), timer: undefined };
    this.#permissions.set(peerIp, permission);
    return this.#installPermission(peerIp, permission);
  }

  /**
   * Binds a channel to `peer`, so data to and from it goes as ChannelData (4 bytes of header
   * instead of 36 or more). Also installs the permission for its address. Resolves with the
   * channel number; refreshed before its 10 minutes run out while used.
   */
  bind(peer: Peer): Promise<number> {
    this.#requireAllocated();
    const existing = this.#channels.get(peerKey(peer));
    if (existing) {
      existing.lastUsed = this.#timers.now();
      return existing.pending ?? Promise.resolve(existing.number);
    }
    if (this.#channels.size >= this.#maxChannels) throw new TurnError("turn_limit", `already ${this.#maxChannels} channels`);
    if (!this.#permissions.has(peer.address) && this.#permissions.size >= this.#maxPermissions) throw new TurnError("turn_limit", `already ${this.#maxPermissions} permissions`);
    const number = this.#freeChannelNumber();
    const channel: Channel = { number, peer: { ...peer }, bound: false, pending: undefined, installedAt: 0, lastUsed: this.#timers.now(), timer: undefined };
    this.#channels.set(peerKey(peer), channel);
    this.#channelsByNumber.set(number, channel);
    return this.#installChannel(channel);
  }

  /**
   * Sends `bytes` to `peer` through the relay: ChannelData on a bound channel, else a Send
   * indication. Returns false, sending nothing, when no permission for the peer's address is
   * installed (the server would drop it) or the client is not allocated.
   */
  send(peer: Peer, bytes: Buffer): boolean {
    if (this.#state !== "allocated") return false;
    const now = this.#timers.now();
    const channel = this.#channels.get(peerKey(peer));
    if (channel?.bound) {
      channel.lastUsed = now;
      const permission = this.#permissions.get(peer.address);
      if (permission) permission.lastUsed = now;
      this.#transmit(encodeChannelData(channel.number, bytes));
      return true;
    }
    const permission = this.#permissions.get(peer.address);
    if (!permission?.installed) return false;
    permission.lastUsed = now;
    const transactionId = randomBytes(12);
    this.#transmit(encodeStun(METHOD.SEND, "indication", transactionId, [xorPeerAddress(peer, transactionId), data(bytes)]));
    return true;
  }

  /**
   * Takes a datagram that came from the TURN server's address. Returns whether it was for this
   * client: an answer to one of its requests, a Data indication, or ChannelData on a bound channel.
   * Anything malformed or unexpected is counted in `dropped` and never throws.
   */
  receive(msg: Buffer): boolean {
    try {
      if (looksLikeChannelData(msg)) return this.#channelData(msg);
      if (!looksLikeStun(msg)) return false;
      const m = decodeStun(msg);
      if (m.attributes.some((a) => a.type === ATTR.FINGERPRINT) && !verifyFingerprint(m)) return this.#drop();
      if (m.class === "indication") return m.method === METHOD.DATA ? this.#dataIndication(m) : this.#drop();
      if (m.class === "request") return this.#drop();
      return this.#answer(m);
    } catch {
      return this.#drop();
    }
  }

  /** Deletes the allocation (Refresh with lifetime 0, answered or not) and stops every timer. */
  async close(): Promise<void> {
    const wasAllocated = this.#state === "allocated";
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#stopTimers();
    for (const [, p] of this.#pending) p.reject(new TurnError("turn_closed", "the client was closed"));
    if (wasAllocated) {
      // A last request of its own: the state no longer allows #request's callers, but this one.
      await this.#request(METHOD.REFRESH, () => [lifetime(0)]).catch(() => undefined);
    }
    this.#pending.clear();
    this.#onClose(undefined);
  }

  #requireAllocated(): void {
    if (this.#state !== "allocated") throw new TurnError("turn_state", `no allocation: this client is ${this.#state}`);
  }

  #drop(): boolean {
    this.#dropped++;
    return false;
  }

  #transmit(bytes: Buffer): void {
    this.#send(bytes, this.#server!.host, this.#server!.port);
  }

  /**
   * One request, authenticated once the server has said how: a 401 to an unauthenticated request
   * (or one with an old nonce) and a 438 give the realm and nonce to retry with, a new
   * transaction each time, a bounded number of times.
   */
  async #request(method: number, attributes: (transactionId: Buffer) => StunAttributeValue[]): Promise<StunMessage> {
    for (let challenges = 0; ; challenges++) {
      const auth = this.#auth;
      const transactionId = randomBytes(12);
      const credentials = auth ? [text(ATTR.USERNAME, this.#username), text(ATTR.REALM, auth.realm), text(ATTR.NONCE, auth.nonce)] : [];
      const request = encodeStun(method, "request", transactionId, [...attributes(transactionId), ...credentials], { integrity: auth?.key });
      const answer = await this.#transaction(transactionId, request, auth?.key);
      if (answer.class === "success") return answer;
      const error = errorCode(answer);
      const nonce = textOf(answer, ATTR.NONCE);
      const realm = textOf(answer, ATTR.REALM) ?? auth?.realm;
      const challenged = error?.code === 438 || (error?.code === 401 && (!auth || nonce !== auth.nonce));
      if (challenged && nonce && realm && challenges < MAX_CHALLENGES) {
        this.#auth = { realm, nonce, key: auth?.realm === realm ? auth.key : longTermKey(this.#username, realm, this.#password) };
        continue;
      }
      const reason = error ? `${error.code} ${error.reason}`.trim() : "an error without a code";
      throw new TurnError(error?.code === 401 ? "turn_unauthorized" : "turn_refused", `the TURN server refused method 0x${method.toString(16)}: ${reason}`, error?.code);
    }
  }

  /** Sends a request and retransmits it (RTO doubling) until an answer, or turn_timeout after the last wait. */
  #transaction(transactionId: Buffer, request: Buffer, key: Buffer | undefined): Promise<StunMessage> {
    return new Promise((resolve, reject) => {
      const id = transactionId.toString("hex");
      let sent = 0;
      let rto = this.#rtoMs;
      const pending: Pending = {
        key,
        resolve: (m) => {
          this.#timers.clearTimeout(pending.timer);
          this.#pending.delete(id);
          resolve(m);
        },
        reject: (e) => {
          this.#timers.clearTimeout(pending.timer);
          this.#pending.delete(id);
          reject(e);
        },
        timer: undefined,
      };
      const attempt = () => {
        if (sent === this.#maxTransmissions) {
          pending.reject(new TurnError("turn_timeout", `no answer from the TURN server after ${sent} transmissions`));
          return;
        }
        this.#transmit(request);
        sent++;
        const wait = sent === this.#maxTransmissions ? FINAL_WAIT_RTOS * this.#rtoMs : rto;
        rto *= 2;
        pending.timer = this.#timers.setTimeout(attempt, wait);
      };
      this.#pending.set(id, pending);
      attempt();
    });
  }

  /** An answer to a request: accepted only if it matches one, and, for an authenticated request's success, if its integrity checks. */
  #answer(m: StunMessage): boolean {
    const pending = this.#pending.get(m.transactionId.toString("hex"));
    if (!pending) return this.#drop();
    const authenticated = pending.key !== undefined && m.attributes.some((a) => a.type === ATTR.MESSAGE_INTEGRITY);
    if (authenticated && !verifyIntegrity(m, pending.key!)) return this.#drop();
    // A success to an authenticated request must prove itself; a forged one could name any relayed address.
    if (pending.key !== undefined && m.class === "success" && !authenticated) return this.#drop();
    pending.resolve(authenticated ? coveredByIntegrity(m) : m);
    return true;
  }

  #dataIndication(m: StunMessage): boolean {
    if (this.#state !== "allocated") return this.#drop();
    const from = xorAddressOf(m, TURN_ATTR.XOR_PEER_ADDRESS);
    const payload = m.attributes.find((a) => a.type === TURN_ATTR.DATA)?.value;
    if (!from || !payload || from.family !== 4) return this.#drop();
    // The server relays only from permitted addresses; anything else did not come through it.
    const permission = this.#permissions.get(from.address);
    if (!permission?.installed) return this.#drop();
    // Only what this node sends keeps a permission: a peer it stopped answering (cut off, or never
    // wanted) cannot keep its way in open by sending.
    this.#onData({ address: from.address, port: from.port }, payload);
    return true;
  }

  #channelData(msg: Buffer): boolean {
    const frame = decodeChannelData(msg);
    const channel = frame && this.#channelsByNumber.get(frame.channel);
    if (!frame || !channel?.bound || this.#state !== "allocated") return this.#drop();
    this.#onData({ ...channel.peer }, frame.payload);
    return true;
  }

  async #installPermission(peerIp: string, permission: Permission): Promise<void> {
    const install = (async () => {
      try {
        await this.#request(METHOD.CREATE_PERMISSION, (id) => [xorPeerAddress({ address: peerIp, port: 0 }, id)]);
      } catch (e) {
        if (this.#permissions.get(peerIp) === permission) this.#permissions.delete(peerIp);
        throw e;
      } finally {
        permission.pending = undefined;
      }
      this.#permissionInstalled(peerIp, permission);
    })();
    permission.pending = install;
    return install;
  }

  /** A permission just installed or refreshed (by CreatePermission or by a ChannelBind): lapse-or-refresh timer. */
  #permissionInstalled(peerIp: string, permission: Permission): void {
    if (this.#state !== "allocated" || this.#permissions.get(peerIp) !== permission) return;
    permission.installed = true;
    permission.installedAt = this.#timers.now();
    this.#timers.clearTimeout(permission.timer);
    permission.timer = this.#timers.setTimeout(() => {
      if (this.#state !== "allocated" || this.#permissions.get(peerIp) !== permission) return;
      // Unused since the last install, and no channel to it: let it lapse.
      const inUse = permission.lastUsed > permission.installedAt || [...this.#channels.values()].some((c) => c.peer.address === peerIp);
      if (!inUse) {
        this.#permissions.delete(peerIp);
        return;
      }
      void this.#installPermission(peerIp, permission).catch(() => undefined);
    }, (PERMISSION_SECONDS - REFRESH_MARGIN_SECONDS) * 1000);
  }

  #installChannel(channel: Channel): Promise<number> {
    const install = (async () => {
      try {
        await this.#request(METHOD.CHANNEL_BIND, (id) => [channelNumber(channel.number), xorPeerAddress(channel.peer, id)]);
      } catch (e) {
        this.#releaseChannel(channel);
        throw e;
      } finally {
        channel.pending = undefined;
      }
      if (this.#state !== "allocated" || this.#channelsByNumber.get(channel.number) !== channel) return channel.number;
      channel.bound = true;
      channel.installedAt = this.#timers.now();
      // A ChannelBind installs or refreshes the permission for the peer's address too.
      let permission = this.#permissions.get(channel.peer.address);
      if (!permission) {
        permission = { installed: false, pending: undefined, installedAt: 0, lastUsed: channel.lastUsed, timer: undefined };
        this.#permissions.set(channel.peer.address, permission);
      }
      this.#permissionInstalled(channel.peer.address, permission);
      this.#timers.clearTimeout(channel.timer);
      channel.timer = this.#timers.setTimeout(() => {
        if (this.#state !== "allocated" || this.#channelsByNumber.get(channel.number) !== channel) return;
        if (channel.lastUsed <= channel.installedAt) return this.#releaseChannel(channel);
        void this.#installChannel(channel).catch(() => undefined);
      }, (CHANNEL_SECONDS - REFRESH_MARGIN_SECONDS) * 1000);
      return channel.number;
    })();
    channel.pending = install;
    return install;
  }

  #releaseChannel(channel: Channel): void {
    this.#timers.clearTimeout(channel.timer);
    if (this.#channelsByNumber.get(channel.number) !== channel) return;
    this.#channelsByNumber.delete(channel.number);
    this.#channels.delete(peerKey(channel.peer));
    this.#coolingChannels.set(channel.number, this.#timers.now() + CHANNEL_REUSE_MS);
  }

  /** A number never bound in this allocation, else one whose binding lapsed long enough ago. */
  #freeChannelNumber(): number {
    if (this.#nextChannel <= LAST_CHANNEL) return this.#nextChannel++;
    const now = this.#timers.now();
    for (const [number, reusableAt] of this.#coolingChannels) {
      if (reusableAt <= now) {
        this.#coolingChannels.delete(number);
        return number;
      }
    }
    throw new TurnError("turn_limit", "every channel number of this allocation is bound or cooling down");
  }

  #scheduleAllocationRefresh(granted: number): void {
    const seconds = Math.min(Math.max(granted, 1), MAX_LIFETIME_SECONDS);
    const refreshIn = seconds > 2 * REFRESH_MARGIN_SECONDS ? seconds - REFRESH_MARGIN_SECONDS : seconds / 2;
    this.#timers.clearTimeout(this.#allocationTimer);
    this.#allocationTimer = this.#timers.setTimeout(() => {
      this.refresh().catch((e: unknown) => this.#lose(e instanceof TurnError ? e : new TurnError("turn_bad_response", String(e))));
    }, refreshIn * 1000);
  }

  /** The allocation is gone (a refresh failed): stop, and tell the owner, who may allocate anew. */
  #lose(error: TurnError): void {
    if (this.#state !== "allocated") return;
    this.#state = "closed";
    this.#stopTimers();
    for (const [, p] of this.#pending) p.reject(new TurnError("turn_closed", "the allocation was lost"));
    this.#onClose(error);
  }

  #stopTimers(): void {
    this.#timers.clearTimeout(this.#allocationTimer);
    for (const p of this.#permissions.values()) this.#timers.clearTimeout(p.timer);
    for (const c of this.#channels.values()) this.#timers.clearTimeout(c.timer);
  }
}
