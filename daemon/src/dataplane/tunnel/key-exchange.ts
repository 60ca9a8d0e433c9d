/**
 * The signed key exchange (PILA frames, docs/daemon.md) as a state machine with no socket, no
 * clock and no registry: it takes frames, the time, and the identity key the registry holds for
 * a sender, and gives back the frames to send and the sessions set up. Whatever fails a check it
 * refuses without a frame in reply, so a stranger learns nothing.
 *
 * Each side sends a fresh X25519 key signed by its Ed25519 identity, with its node certificate when
 * it holds one. A response names the initiation it answers, so it completes only that exchange. If
 * both sides start at once, the lower node ID's exchange wins.
 */
import type { Identity } from "../../identity.ts";
import { newEphemeral, sharedSecret, verifyEd25519, type Ephemeral } from "../../crypto/keys.ts";
import { deriveKeys, Session } from "../../crypto/session.ts";
import { helloBody, helloSigningInput, parseHello, type Hello, type Role } from "../../wire/tunnel.ts";

/** What a probe carries in place of an X25519 key: it sets up no session. */
const NO_KEY = { publicKey: Buffer.alloc(32) };

/** A hello dated further than this from our clock is refused: replays are bounded by time as well as by order. */
const HELLO_MAX_SKEW_MS = 60_000;

/** What a hello that passed every check gives: a frame to send back to its sender, a session with it, both, or neither. */
export interface Step {
  reply?: Buffer;
  session?: Session;
}

/** Whether the hello is signed by this identity key. */
export const signedBy = (hello: Hello, key: Buffer): boolean => verifyEd25519(key, helloSigningInput(hello.signed), hello.signature);

export class KeyExchange {
  #identity: Identity;
  readonly #me: () => number;
  /** This node's certificate, for every hello it signs, or null while it holds none. */
  readonly #certificate: () => Buffer | null;
  /** Our ephemeral key for each exchange we started that is still under way. */
  readonly #ours = new Map<number, Ephemeral>();
  /** Newest accepted exchange time per peer: an older or equal one is a replay. */
  readonly #newest = new Map<number, number>();
  /** The response we sent to each peer's latest initiation, sent again when it retransmits. */
  readonly #answered = new Map<number, { initiator: Buffer; reply: Buffer }>();
  /** The time on the last hello we signed for each peer. */
  readonly #signedAt = new Map<number, number>();

  constructor(identity: Identity, me: () => number, certificate: () => Buffer | null = () => null) {
    this.#identity = identity;
    this.#me = me;
    this.#certificate = certificate;
  }

  /**
   * Signs with `identity` from now on (this node moved to a new key). Exchanges under way, and
   * answers kept for retransmissions, were signed with the old one and are forgotten.
   */
  rekey(identity: Identity): void {
    this.#identity = identity;
    this.#ours.clear();
    this.#answered.clear();
  }

  /** Starts a fresh exchange with a peer, with a new ephemeral key, in place of any under way. */
  start(peer: number): void {
    this.#ours.set(peer, newEphemeral());
  }

  /**
   * The initiation of the exchange under way with a peer, signed at `now`, or null if none is: each
   * retransmission is signed afresh (a newer time), or the peer would take it for a replay.
   */
  initiation(peer: number, now: number): Buffer | null {
    const ours = this.#ours.get(peer);
    return ours ? this.#hello("initiate", peer, ours, now) : null;
  }

  /**
   * A probe for a peer that wants a path to us: signed, dated, and starting nothing, so it cannot
   * compete with the peer's own exchange, which it only helps through our NAT.
   */
  probe(peer: number, now: number): Buffer {
    return this.#hello("probe", peer, NO_KEY, now);
  }

  /** Gives up the exchange under way with a peer: a late answer to it is then refused. */
  abandon(peer: number): void {
    this.#ours.delete(peer);
  }

  /**
   * Forgets the times kept for peers last seen more than the allowed skew ago: a hello dated then is
   * refused for its date anyway, so strangers' hellos cannot grow these maps without bound.
   */
  sweep(now: number): void {
    for (const times of [this.#newest, this.#signedAt]) {
      for (const [peer, time] of times) if (now - time > HELLO_MAX_SKEW_MS && !this.#ours.has(peer)) times.delete(peer);
    }
  }

  /** Forgets the exchanges with a peer, but not the newest time accepted from it: old hellos stay replays. */
  forget(peer: number): void {
    this.#ours.delete(peer);
    this.#answered.delete(peer);
  }

  /**
   * The checks that need no key: a well-formed hello to this node from another, dated near `now`
   * and after any accepted from its sender, and, for a response, with an exchange of ours under way.
   * Null for anything else. What passes is for the caller to find the sender's identity key for.
   */
  screen(frame: Buffer, now: number): Hello | null {
    const hello = parseHello(frame);
    const me = this.#me();
    if (!hello || hello.receiver !== me || hello.sender === me || Math.abs(now - hello.time) > HELLO_MAX_SKEW_MS) return null;
    if (!this.#isNewer(hello)) return null;
    // An answer or a probe means something only while an exchange of ours is under way.
    if (hello.role !== "initiate" && !this.#ours.has(hello.sender)) return null;
    return hello;
  }

  /**
   * Whether our exchange under way with the peer beats an initiation of theirs (the lower node ID's
   * wins): theirs then needs no checking at all, and so no lookup of their key. In hole punching
   * both sides initiate at once, every time.
   */
  outranks(peer: number): boolean {
    return this.#ours.has(peer) && this.#me() < peer;
  }

  /**
   * A probe of a peer we are dialing, or an initiation of its that lost to our exchange (see
   * outranks): either came along a path that works, so if it is signed by the key we hold for the
   * peer and newer than any accepted, our initiation goes back along that path at once (a triggered
   * check), one frame for one frame. Null otherwise.
   */
  triggered(hello: Hello, key: Buffer | null, now: number): Buffer | null {
    const lost = hello.role === "initiate" && this.outranks(hello.sender);
    if (!(lost || (hello.role === "probe" && this.#ours.has(hello.sender))) || !key || !signedBy(hello, key) || !this.#isNewer(hello)) return null;
    this.#newest.set(hello.sender, hello.time);
    return this.initiation(hello.sender, now);
  }

  /**
   * A screened hello checked against its sender's identity key, as its certificate or the registry
   * gives it (null if neither does): null if the check fails, or anything changed meanwhile that
   * makes the hello stale. An initiation is answered with a new session, unless an exchange of ours
   * under way wins; a retransmitted one (same ephemeral key) gets the same response again and no new
   * session. A response completes the exchange it answers.
   */
  consume(hello: Hello, key: Buffer | null, now: number): Step | null {
    if (hello.role === "probe") return null;
    if (!key || !signedBy(hello, key) || !this.#isNewer(hello)) return null;
    this.#newest.set(hello.sender, hello.time);
    return hello.role === "initiate" ? this.#answer(hello, now) : this.#complete(hello, now);
  }

  #isNewer(hello: Hello): boolean {
    return hello.time > (this.#newest.get(hello.sender) ?? 0);
  }

  #answer(hello: Hello, now: number): Step | null {
    const me = this.#me();
    if (this.#ours.has(hello.sender) && me < hello.sender) return {};
    const previous = this.#answered.get(hello.sender);
    if (previous?.initiator.equals(hello.ephemeral)) return { reply: previous.reply };
    const ephemeral = newEphemeral();
    const secret = sharedSecret(ephemeral, hello.ephemeral);
    if (!secret) return null;
    const keys = deriveKeys(secret, { node: hello.sender, ephemeral: hello.ephemeral }, { node: me, ephemeral: ephemeral.publicKey }, "respond");
    const reply = this.#hello("respond", hello.sender, ephemeral, now, hello.ephemeral);
    this.#answered.set(hello.sender, { initiator: Buffer.from(hello.ephemeral), reply });
    // Their exchange won: ours is over, and a late answer to it is refused.
    this.#ours.delete(hello.sender);
    return { reply, session: new Session(keys, me, now) };
  }

  #complete(hello: Hello, now: number): Step | null {
    const ours = this.#ours.get(hello.sender);
    // A late answer to an earlier exchange must not complete this one with the wrong keys.
    if (!ours || !hello.answers.equals(ours.publicKey)) return null;
    const secret = sharedSecret(ours, hello.ephemeral);
    if (!secret) return null;
    const me = this.#me();
    const keys = deriveKeys(secret, { node: me, ephemeral: ours.publicKey }, { node: hello.sender, ephemeral: hello.ephemeral }, "initiate");
    this.#ours.delete(hello.sender);
    return { session: new Session(keys, me, now) };
  }

  #hello(role: Role, peer: number, ephemeral: Pick<Ephemeral, "publicKey">, now: number, answers?: Buffer): Buffer {
    // Strictly later than our last hello to the peer: in a simultaneous open, an answer signed in the
    // same millisecond as our initiation would otherwise be taken for a replay of it.
    const time = Math.max(now, (this.#signedAt.get(peer) ?? 0) + 1);
    this.#signedAt.set(peer, time);
    const body = helloBody(role, this.#me(), peer, time, ephemeral.publicKey, answers, this.#certificate());
    return Buffer.concat([body, Buffer.from(this.#identity.sign(helloSigningInput(body)), "base64")]);
  }
}
