/** The key exchange as a state machine, scripted frame by frame: no sockets, no registry, no timers. */
import { describe, expect, it } from "vitest";
import { newEphemeral } from "../src/crypto/keys.ts";
import type { Session } from "../src/crypto/session.ts";
import { KeyExchange, type Step } from "../src/dataplane/tunnel/key-exchange.ts";
import { Identity } from "../src/identity.ts";
import { helloBody, helloSigningInput, parseSealedHeader, type Role } from "../src/wire/tunnel.ts";

/** A sealed frame as the datagram that carries it. */
const oneFrame = (frame: Buffer | Buffer[]): Buffer => (Buffer.isBuffer(frame) ? frame : Buffer.concat(frame));

/** Sessions check their age against the clock they are given; every step here gives this one or a little later. */
const T = Date.now();

interface Side {
  id: number;
  identity: Identity;
  /** The identity key the registry holds for this side. */
  key: Buffer;
  exchange: KeyExchange;
}

function side(id: number): Side {
  const identity = Identity.generate();
  return { id, identity, key: Buffer.from(identity.publicKey, "base64"), exchange: new KeyExchange(identity, () => id) };
}

/** A frame arriving at `to`, checked against `key`: what the exchange gives, or null for a silent drop. */
function deliver(to: Side, frame: Buffer, key: Buffer | null, now = T): Step | null {
  const hello = to.exchange.screen(frame, now);
  return hello && to.exchange.consume(hello, key, now);
}

/** A hello made by hand, signed by `by`. */
function hello(by: Identity, role: Role, sender: number, receiver: number, time: number, ephemeral = newEphemeral().publicKey, answers?: Buffer): Buffer {
  const body = helloBody(role, sender, receiver, time, ephemeral, answers);
  return Buffer.concat([body, Buffer.from(by.sign(helloSigningInput(body)), "base64")]);
}

/** Whether a packet sealed by one session is opened by the other, both ways. */
function paired(a: Session, b: Session): boolean {
  const through = (from: Session, to: Session, text: string) => {
    const frame = oneFrame(from.seal([Buffer.from(text)]));
    return to.open(frame, parseSealedHeader(frame)!, T)?.toString() === text;
  };
  return through(a, b, "there") && through(b, a, "back");
}

/** A full exchange that `from` starts at `now`: the sessions each side ends with. */
function handshake(from: Side, to: Side, now = T): { initiator: Session; responder: Session } {
  from.exchange.start(to.id);
  const answer = deliver(to, from.exchange.initiation(to.id, now)!, from.key, now);
  const done = deliver(from, answer!.reply!, to.key, now);
  return { initiator: done!.session!, responder: answer!.session! };
}

describe("the key exchange", () => {
  it("sets up one session both sides share: the initiation is answered, and the answer completes it", () => {
    const [a, b] = [side(1), side(2)];
    a.exchange.start(2);
    const answer = deliver(b, a.exchange.initiation(2, T)!, a.key);
    expect(answer).toMatchObject({ reply: expect.any(Buffer), session: expect.anything() });
    const done = deliver(a, answer!.reply!, b.key, T + 5);
    expect(done?.reply).toBeUndefined();
    expect(done?.session?.keyId).toBe(answer!.session!.keyId);
    expect(paired(done!.session!, answer!.session!)).toBe(true);
    // The exchange is over: nothing more to retransmit, and its answer again is refused.
    expect(a.exchange.initiation(2, T + 10)).toBeNull();
    expect(deliver(a, answer!.reply!, b.key, T + 10)).toBeNull();
  });

  it("answers a retransmission with the same response and no new session, and ignores a replayed initiation", () => {
    const [a, b] = [side(1), side(2)];
    a.exchange.start(2);
    const first = a.exchange.initiation(2, T)!;
    const retransmitted = a.exchange.initiation(2, T + 500)!;
    const answer = deliver(b, first, a.key)!;
    expect(answer.session).toBeDefined();
    // The same frame again, or one older than the newest accepted: a replay, dropped.
    expect(deliver(b, first, a.key, T + 600)).toBeNull();
    expect(deliver(b, retransmitted, a.key, T + 600)).toEqual({ reply: answer.reply });
    expect(deliver(b, retransmitted, a.key, T + 700)).toBeNull();
    // Forgetting the peer's tunnel does not forget what was a replay.
    b.exchange.forget(1);
    expect(deliver(b, retransmitted, a.key, T + 800)).toBeNull();
    expect(deliver(b, first, a.key, T + 800)).toBeNull();
  });

  it("drops silently a hello signed by another key, with no key, or changed, and still takes the genuine one after", () => {
    const [a, b] = [side(1), side(2)];
    a.exchange.start(2);
    const initiation = a.exchange.initiation(2, T)!;
    expect(deliver(b, initiation, side(1).key)).toBeNull();
    expect(deliver(b, initiation, null)).toBeNull();
    const forged = hello(Identity.generate(), "initiate", 1, 2, T + 1);
    expect(deliver(b, forged, a.key)).toBeNull();
    for (const byte of [6, 20, 40, 100]) {
      const bent = Buffer.from(initiation);
      bent[byte]! ^= 1;
      expect(deliver(b, bent, a.key)).toBeNull();
    }
    // None of those moved the newest time accepted from node 1: the genuine initiation is answered.
    expect(deliver(b, initiation, a.key)?.session).toBeDefined();
  });

  it("drops, before any key is needed, a hello for another node, from itself, too far from now, or an answer to no exchange", () => {
    const [a, b] = [side(1), side(2)];
    const screened = (frame: Buffer, now = T) => b.exchange.screen(frame, now);
    expect(screened(hello(a.identity, "initiate", 1, 3, T))).toBeNull();
    expect(screened(hello(b.identity, "initiate", 2, 2, T))).toBeNull();
    expect(screened(hello(a.identity, "initiate", 1, 2, T - 61_000))).toBeNull();
    expect(screened(hello(a.identity, "initiate", 1, 2, T + 61_000))).toBeNull();
    expect(screened(hello(a.identity, "respond", 1, 2, T, newEphemeral().publicKey, newEphemeral().publicKey))).toBeNull();
    expect(screened(Buffer.from("PILA"))).toBeNull();
    expect(screened(hello(a.identity, "initiate", 1, 2, T))).not.toBeNull();
  });

  it("refuses a low-order ephemeral key, signed or not", () => {
    const [a, b] = [side(1), side(2)];
    expect(deliver(b, hello(a.identity, "initiate", 1, 2, T, Buffer.alloc(32)), a.key)).toBeNull();
  });

  it("completes an exchange only with the answer to it: not an answer to an earlier one, nor one after giving up", () => {
    const [a, b] = [side(1), side(2)];
    a.exchange.start(2);
    const stale = deliver(b, a.exchange.initiation(2, T)!, a.key)!.reply!;
    // Our exchange starts over (it timed out, say): the answer to the first no longer completes anything.
    a.exchange.start(2);
    expect(deliver(a, stale, b.key, T + 1)).toBeNull();
    const current = deliver(b, a.exchange.initiation(2, T + 2)!, a.key, T + 2)!.reply!;
    a.exchange.abandon(2);
    expect(deliver(a, current, b.key, T + 3)).toBeNull();
  });

  it.each([
    ["the higher ID's initiation first", [2, 1]],
    ["the lower ID's initiation first", [1, 2]],
  ])("resolves a simultaneous open to the lower node ID's exchange, whatever arrives first, all in one millisecond (%s)", (_, order) => {
    const [a, b] = [side(1), side(2)];
    a.exchange.start(2);
    b.exchange.start(1);
    const initiations = new Map([
      [1, a.exchange.initiation(2, T)!],
      [2, b.exchange.initiation(1, T)!],
    ]);
    const steps = new Map<number, Step | null>();
    for (const sender of order) steps.set(sender, sender === 1 ? deliver(b, initiations.get(1)!, a.key) : deliver(a, initiations.get(2)!, b.key));
    // Node 1's exchange stands, so it ignores node 2's; node 2 answers node 1's and gives up its own.
    expect(steps.get(2)).toEqual({});
    const answer = steps.get(1)!;
    expect(b.exchange.initiation(1, T + 1)).toBeNull();
    const done = deliver(a, answer.reply!, b.key, T + 1)!;
    expect(paired(done.session!, answer.session!)).toBe(true);
  });

  it("rekeys over a live session, from either side, with fresh keys each time", () => {
    const [a, b] = [side(1), side(2)];
    const first = handshake(a, b);
    const second = handshake(a, b, T + 120_001);
    const third = handshake(b, a, T + 120_002);
    expect(new Set([first.initiator.keyId, second.initiator.keyId, third.initiator.keyId]).size).toBe(3);
    expect(paired(second.initiator, second.responder)).toBe(true);
    expect(paired(third.initiator, third.responder)).toBe(true);
    // The sessions before stay whole for what is still in flight.
    expect(paired(first.initiator, first.responder)).toBe(true);
  });

  it("answers a probe that lost to its own exchange with its initiation, once per probe, and only when signed by the key it holds", () => {
    const [a, b] = [side(1), side(2)];
    a.exchange.start(2);
    b.exchange.start(1);
    const probe = b.exchange.initiation(1, T)!;
    const screened = a.exchange.screen(probe, T)!;
    expect(a.exchange.outranks(2)).toBe(true);
    // Signed by B: our own initiation goes back, and it completes with B's answer to it.
    const back = a.exchange.triggered(screened, b.key, T);
    expect(back).toBeInstanceOf(Buffer);
    const answer = deliver(b, back!, a.key, T + 1);
    expect(paired(deliver(a, answer!.reply!, b.key, T + 2)!.session!, answer!.session!)).toBe(true);

    const [c, d] = [side(3), side(4)];
    c.exchange.start(4);
    d.exchange.start(3);
    const genuine = d.exchange.initiation(3, T)!;
    // No key held, or another node's: nothing goes back.
    expect(c.exchange.triggered(c.exchange.screen(genuine, T)!, null, T)).toBeNull();
    expect(c.exchange.triggered(c.exchange.screen(genuine, T)!, a.key, T)).toBeNull();
    expect(c.exchange.triggered(c.exchange.screen(genuine, T)!, d.key, T)).toBeInstanceOf(Buffer);
    // The same probe again (a replay): nothing.
    expect(c.exchange.screen(genuine, T)).toBeNull();
    // At the node whose exchange loses, the probe is answered the usual way, not by a triggered check.
    const fromC = d.exchange.screen(c.exchange.initiation(4, T + 3)!, T + 3)!;
    expect(d.exchange.outranks(3)).toBe(false);
    expect(d.exchange.triggered(fromC, c.key, T + 3)).toBeNull();
  });

  it("takes a probe as a path to answer with its own initiation, never as an exchange", () => {
    const [a, b, stranger] = [side(1), side(2), side(9)];
    // B probes A, which is dialing B: A's initiation goes back, once per probe, and completes with B.
    a.exchange.start(2);
    const probe = b.exchange.probe(1, T);
    const back = a.exchange.triggered(a.exchange.screen(probe, T)!, b.key, T);
    expect(back).toBeInstanceOf(Buffer);
    expect(a.exchange.screen(probe, T)).toBeNull();
    const answer = deliver(b, back!, a.key, T + 1);
    expect(paired(deliver(a, answer!.reply!, b.key, T + 2)!.session!, answer!.session!)).toBe(true);
    // A probe to a node that is not dialing its sender is dropped unread.
    expect(stranger.exchange.screen(b.exchange.probe(9, T + 3), T + 3)).toBeNull();
    // A probe is never answered as an exchange, whatever key checks it.
    a.exchange.start(2);
    const again = a.exchange.screen(b.exchange.probe(1, T + 4), T + 4)!;
    expect(a.exchange.consume(again, b.key, T + 4)).toBeNull();
    // Signed by another key: nothing goes back.
    expect(a.exchange.triggered(again, stranger.key, T + 4)).toBeNull();
  });

  it("forgets the times kept per peer once they are past the allowed skew, and a replay stays refused", () => {
    const [a, b] = [side(1), side(2)];
    b.exchange.start(1);
    const initiation = b.exchange.initiation(1, T)!;
    expect(deliver(a, initiation, b.key, T)).toMatchObject({ reply: expect.any(Buffer) });
    expect(deliver(a, initiation, b.key, T)).toBeNull();
    // A minute later the time kept for B goes; the replayed hello is refused for its date instead.
    a.exchange.sweep(T + 61_000);
    expect(deliver(a, initiation, b.key, T + 61_000)).toBeNull();
    // A fresh exchange from B is answered as ever.
    b.exchange.start(1);
    expect(deliver(a, b.exchange.initiation(1, T + 61_000)!, b.key, T + 61_000)).toMatchObject({ reply: expect.any(Buffer) });
  });
});
