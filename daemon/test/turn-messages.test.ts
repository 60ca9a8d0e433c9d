/**
 * TURN's messages and the client's handling of what a server (or anyone spoofing one) sends,
 * without a server: the codec against RFC 5769's long-term-credential vector, ChannelData, and a
 * scripted server for the challenge, stale nonces, integrity and retransmission, on a manual clock.
 */
import { describe, expect, it } from "vitest";
import { ATTR, decodeStun, encodeStun, encodeXorAddress, errorCode, longTermKey, verifyFingerprint, verifyIntegrity, type StunAttributeValue, type StunMessage } from "../src/net/stun.ts";
import { decodeChannelData, encodeChannelData, looksLikeChannelData, METHOD, TURN_ATTR } from "../src/net/turn/messages.ts";
import { TurnClient, TurnError, type Allocation, type TurnTimers } from "../src/net/turn/client.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// RFC 5769 §2.4: a request with long-term authentication. The username is "マトリックス" and the
// password, after SASLprep, "TheMatrIX"; the realm "example.org"; padding is zeros, as ours is.
const LONG_TERM_REQUEST = hex(`00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66`);
const USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9";
const NONCE = "f//499k954d6OL34oL9FSTvy64sA";
const REALM = "example.org";

describe("the TURN codec", () => {
  it("checks RFC 5769's long-term request with MD5(username:realm:password), and builds it byte for byte", () => {
    const m = decodeStun(LONG_TERM_REQUEST);
    const key = longTermKey(USERNAME, REALM, "TheMatrIX");
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(verifyIntegrity(m, longTermKey(USERNAME, REALM, "TheMatrix"))).toBe(false);
    const attrs: StunAttributeValue[] = [
      { type: ATTR.USERNAME, value: Buffer.from(USERNAME) },
      { type: ATTR.NONCE, value: Buffer.from(NONCE) },
      { type: ATTR.REALM, value: Buffer.from(REALM) },
    ];
    const ours = encodeStun(0x001, "request", m.transactionId, attrs, { integrity: key, fingerprint: false });
    expect(ours.toString("hex")).toBe(LONG_TERM_REQUEST.toString("hex"));
  });

  it("puts FINGERPRINT after MESSAGE-INTEGRITY, each covering what comes before it", () => {
    const txid = Buffer.alloc(12, 7);
    const key = longTermKey("u", "r", "p");
    const m = decodeStun(encodeStun(METHOD.ALLOCATE, "request", txid, [{ type: TURN_ATTR.REQUESTED_TRANSPORT, value: Buffer.from([17, 0, 0, 0]) }], { integrity: key }));
    expect(m.method).toBe(METHOD.ALLOCATE);
    expect(m.attributes.map((a) => a.type)).toEqual([TURN_ATTR.REQUESTED_TRANSPORT, ATTR.MESSAGE_INTEGRITY, ATTR.FINGERPRINT]);
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(verifyFingerprint(m)).toBe(true);
    // Every method's bits survive the type field's interleaving with the class bits.
    for (const method of Object.values(METHOD)) {
      for (const cls of ["request", "indication", "success", "error"] as const) {
        const back = decodeStun(encodeStun(method, cls, txid, []));
        expect([back.method, back.class]).toEqual([method, cls]);
      }
    }
  });

  it("frames ChannelData and refuses channel numbers outside 0x4000–0x4FFF and lengths past the datagram", () => {
    const frame = encodeChannelData(0x4001, Buffer.from("hello"));
    expect(frame.toString("hex")).toBe("40010005" + Buffer.from("hello").toString("hex"));
    expect(decodeChannelData(frame)).toEqual({ channel: 0x4001, payload: Buffer.from("hello") });
    // Padding after the payload is allowed and ignored.
    expect(decodeChannelData(Buffer.concat([frame, Buffer.alloc(3)]))?.payload).toEqual(Buffer.from("hello"));
    expect(decodeChannelData(frame.subarray(0, 8))).toBeUndefined();
    expect(decodeChannelData(hex("4fff0000"))).toEqual({ channel: 0x4fff, payload: Buffer.alloc(0) });
    expect(looksLikeChannelData(hex("5000 0000"))).toBe(false);
    expect(looksLikeChannelData(Buffer.from("PILS"))).toBe(false);
    expect(() => encodeChannelData(0x3fff, Buffer.alloc(1))).toThrow(RangeError);
    expect(() => encodeChannelData(0x5000, Buffer.alloc(1))).toThrow(RangeError);
  });
});

/** Timers that run only when the test advances the clock. */
class ManualClock implements TurnTimers {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now = () => this.#now;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  };
  clearTimeout = (handle: unknown) => void this.#timers.delete(handle as number);

  /** Moves time on by `ms`, running what falls due in order, and letting promises settle between. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const due = [...this.#timers].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
    await new Promise((r) => setImmediate(r));
  }
}

const SERVER = { host: "192.0.2.10", port: 3478 };
const RELAYED = { address: "192.0.2.10", port: 50_000, family: 4 as const };
const MAPPED = { address: "198.51.100.7", port: 40_000, family: 4 as const };
const PASSWORD = "secret";

/** A client whose datagrams land in `sent`, on a manual clock. */
function harness(options: { rtoMs?: number; maxTransmissions?: number; maxPermissions?: number; maxChannels?: number } = {}) {
  const clock = new ManualClock();
  const sent: StunMessage[] = [];
  const sentAt: number[] = [];
  const raw: Buffer[] = [];
  const client = new TurnClient({
    send: (bytes, host, port) => {
      expect({ host, port }).toEqual(SERVER);
      raw.push(bytes);
      if (looksLikeChannelData(bytes)) return;
      sent.push(decodeStun(bytes));
      sentAt.push(clock.now());
    },
    timers: clock,
    ...options,
  });
  return { clock, sent, sentAt, raw, client };
}

const answer = (to: StunMessage, cls: "success" | "error", attrs: StunAttributeValue[], key?: Buffer) => encodeStun(to.method, cls, to.transactionId, attrs, { integrity: key });
const errorAttr = (code: number, reason: string): StunAttributeValue => {
  const value = Buffer.concat([Buffer.from([0, 0, Math.floor(code / 100), code % 100]), Buffer.from(reason)]);
  return { type: ATTR.ERROR_CODE, value };
};
const textAttr = (type: number, s: string): StunAttributeValue => ({ type, value: Buffer.from(s) });
const lifetimeAttr = (s: number): StunAttributeValue => {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(s);
  return { type: TURN_ATTR.LIFETIME, value };
};
const allocated = (to: StunMessage, key: Buffer, lifetime = 600) =>
  answer(to, "success", [
    { type: TURN_ATTR.XOR_RELAYED_ADDRESS, value: encodeXorAddress(RELAYED, to.transactionId) },
    { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(MAPPED, to.transactionId) },
    lifetimeAttr(lifetime),
  ], key);
const text = (m: StunMessage, type: number) => m.attributes.find((a) => a.type === type)?.value.toString();

const challenge = (to: StunMessage) => answer(to, "error", [errorAttr(401, "Unauthorized"), textAttr(ATTR.REALM, "lab"), textAttr(ATTR.NONCE, "n1")]);

/** Starts an allocation and answers its first request with the 401 challenge; the authenticated request is then the last sent. */
async function challenged(h: ReturnType<typeof harness>): Promise<{ done: Promise<Allocation> }> {
  const done = h.client.allocate(SERVER, "user", PASSWORD);
  await h.clock.advance(0);
  expect(h.client.receive(challenge(h.sent.at(-1)!))).toBe(true);
  await h.clock.advance(0);
  return { done };
}

/** Runs the challenge and answers the authenticated Allocate; resolves with the client allocated. */
async function allocate(h: ReturnType<typeof harness>, key = longTermKey("user", "lab", PASSWORD)) {
  const { done } = await challenged(h);
  expect(h.client.receive(allocated(h.sent.at(-1)!, key))).toBe(true);
  return { allocation: await done, key };
}

describe("the TURN client, against a scripted server", () => {
  it("answers the 401 challenge with the realm and nonce, then follows a stale nonce (438) to a new one", async () => {
    const h = harness();
    const done = h.client.allocate(SERVER, "user", PASSWORD);
    await h.clock.advance(0);
    const first = h.sent.at(-1)!;
    expect(first.method).toBe(METHOD.ALLOCATE);
    expect(first.attributes.some((a) => a.type === ATTR.MESSAGE_INTEGRITY)).toBe(false);
    h.client.receive(challenge(first));
    await h.clock.advance(0);
    const second = h.sent.at(-1)!;
    const key = longTermKey("user", "lab", PASSWORD);
    expect(second.transactionId.equals(first.transactionId)).toBe(false);
    expect([text(second, ATTR.USERNAME), text(second, ATTR.REALM), text(second, ATTR.NONCE)]).toEqual(["user", "lab", "n1"]);
    expect(verifyIntegrity(second, key)).toBe(true);
    h.client.receive(answer(second, "error", [errorAttr(438, "Stale Nonce"), textAttr(ATTR.REALM, "lab"), textAttr(ATTR.NONCE, "n2")]));
    await h.clock.advance(0);
    const third = h.sent.at(-1)!;
    expect(text(third, ATTR.NONCE)).toBe("n2");
    expect(verifyIntegrity(third, key)).toBe(true);
    h.client.receive(allocated(third, key));
    expect(await done).toEqual({ relayed: RELAYED, mapped: MAPPED, lifetime: 600 });
  });

  it("ignores a success to an authenticated request without, or with a wrong, MESSAGE-INTEGRITY, and takes the genuine one", async () => {
    const h = harness();
    const { done } = await challenged(h);
    const request = h.sent.at(-1)!;
    const forged = (key?: Buffer) =>
      answer(request, "success", [
        { type: TURN_ATTR.XOR_RELAYED_ADDRESS, value: encodeXorAddress({ address: "203.0.113.66", port: 1, family: 4 }, request.transactionId) },
        { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(MAPPED, request.transactionId) },
        lifetimeAttr(600),
      ], key);
    expect(h.client.receive(forged())).toBe(false);
    expect(h.client.receive(forged(longTermKey("user", "lab", "guess")))).toBe(false);
    expect(h.client.dropped).toBe(2);
    h.client.receive(allocated(request, longTermKey("user", "lab", PASSWORD)));
    expect((await done).relayed).toEqual(RELAYED);
  });

  it("fails with turn_unauthorized when the server refuses the credentials it challenged for", async () => {
    const h = harness();
    const { done } = await challenged(h);
    h.client.receive(challenge(h.sent.at(-1)!));
    await expect(done).rejects.toMatchObject({ code: "turn_unauthorized", status: 401 });
    // Nothing was allocated, so the client may try again.
    expect(h.client.allocation).toBeUndefined();
  });

  it("retransmits a request with a doubling timeout, a bounded number of times, then fails with turn_timeout", async () => {
    const h = harness({ rtoMs: 500, maxTransmissions: 7 });
    const done = h.client.allocate(SERVER, "user", PASSWORD).catch((e: unknown) => e);
    await h.clock.advance(31_500);
    expect(h.sent.every((m) => m.transactionId.equals(h.sent[0]!.transactionId))).toBe(true);
    expect(h.sentAt).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    // After the last transmission it waits 16 initial timeouts before giving up.
    await h.clock.advance(16 * 500 - 1);
    expect(await Promise.race([done, "pending"])).toBe("pending");
    await h.clock.advance(1);
    const error = (await done) as TurnError;
    expect(error).toBeInstanceOf(TurnError);
    expect(error.code).toBe("turn_timeout");
    expect(h.sent).toHaveLength(7);
  });

  it("takes junk, truncated and mismatched datagrams without throwing, and counts them", async () => {
    const h = harness();
    const { key } = await allocate(h);
    const request = h.sent.at(-1)!;
    const good = allocated(request, key);
    const junk = [
      Buffer.alloc(0),
      Buffer.from("PILS and some more bytes"),
      good.subarray(0, good.length - 4),
      (() => { const b = Buffer.from(good); b.writeUInt16BE(0x0fff, 2); return b; })(),
      (() => { const b = Buffer.from(good); b[b.length - 1]! ^= 1; return b; })(),
      hex("4000 0010 0102"),
      hex("4123 0000"),
      encodeStun(METHOD.DATA, "indication", Buffer.alloc(12, 1), [{ type: TURN_ATTR.DATA, value: Buffer.from("no peer") }]),
      encodeStun(METHOD.DATA, "indication", Buffer.alloc(12, 1), [
        { type: TURN_ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress({ address: "203.0.113.9", port: 9, family: 4 }, Buffer.alloc(12, 1)) },
        { type: TURN_ATTR.DATA, value: Buffer.from("not permitted") },
      ]),
      encodeStun(METHOD.DATA, "indication", Buffer.alloc(12, 1), [{ type: TURN_ATTR.XOR_PEER_ADDRESS, value: Buffer.from([0, 1, 2]) }, { type: TURN_ATTR.DATA, value: Buffer.from("x") }]),
      answer(request, "success", []),
      encodeStun(METHOD.ALLOCATE, "request", Buffer.alloc(12, 2), []),
    ];
    const heard: Buffer[] = [];
    h.client.onData((_, bytes) => heard.push(bytes));
    for (const b of junk) expect(h.client.receive(b)).toBe(false);
    expect(heard).toEqual([]);
    // All but the two that do not look like TURN at all (empty, a tunnel frame) were counted.
    expect(h.client.dropped).toBe(junk.length - 2);
  });

  it("sends Send indications once permitted and ChannelData once bound, and delivers both kinds inbound", async () => {
    const h = harness();
    const { key } = await allocate(h);
    const peer = { address: "203.0.113.9", port: 7000 };
    expect(h.client.send(peer, Buffer.from("too early"))).toBe(false);
    const permitted = h.client.permit(peer.address);
    await h.clock.advance(0);
    const create = h.sent.at(-1)!;
    expect(create.method).toBe(METHOD.CREATE_PERMISSION);
    h.client.receive(answer(create, "success", [], key));
    await permitted;
    expect(h.client.send(peer, Buffer.from("hi"))).toBe(true);
    const indication = h.sent.at(-1)!;
    expect([indication.method, indication.class]).toEqual([METHOD.SEND, "indication"]);
    expect(indication.attributes.find((a) => a.type === TURN_ATTR.DATA)?.value.toString()).toBe("hi");

    const heard: [string, string][] = [];
    h.client.onData((from, bytes) => heard.push([`${from.address}:${from.port}`, bytes.toString()]));
    const txid = Buffer.alloc(12, 3);
    expect(h.client.receive(encodeStun(METHOD.DATA, "indication", txid, [
      { type: TURN_ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress({ ...peer, family: 4 }, txid) },
      { type: TURN_ATTR.DATA, value: Buffer.from("hello") },
    ]))).toBe(true);

    const bound = h.client.bind(peer);
    await h.clock.advance(0);
    const bind = h.sent.at(-1)!;
    expect(bind.method).toBe(METHOD.CHANNEL_BIND);
    // Until the server confirms the binding, data still goes as Send indications.
    expect(h.client.send(peer, Buffer.from("meanwhile"))).toBe(true);
    expect(looksLikeChannelData(h.raw.at(-1)!)).toBe(false);
    h.client.receive(answer(bind, "success", [], key));
    expect(await bound).toBe(0x4000);
    expect(h.client.send(peer, Buffer.from("framed"))).toBe(true);
    expect(decodeChannelData(h.raw.at(-1)!)).toEqual({ channel: 0x4000, payload: Buffer.from("framed") });
    expect(h.client.receive(encodeChannelData(0x4000, Buffer.from("back")))).toBe(true);
    expect(h.client.receive(encodeChannelData(0x4001, Buffer.from("unbound")))).toBe(false);
    expect(heard).toEqual([["203.0.113.9:7000", "hello"], ["203.0.113.9:7000", "back"]]);
  });

  it("refreshes a used permission before it lapses, and lets an unused one go", async () => {
    const h = harness();
    const { key } = await allocate(h);
    const answerLast = async () => {
      await h.clock.advance(0);
      h.client.receive(answer(h.sent.at(-1)!, "success", h.sent.at(-1)!.method === METHOD.REFRESH ? [lifetimeAttr(600)] : [], key));
    };
    const used = h.client.permit("203.0.113.1");
    await answerLast();
    await used;
    const idle = h.client.permit("203.0.113.2");
    await answerLast();
    await idle;
    await h.clock.advance(1_000);
    h.client.send({ address: "203.0.113.1", port: 1 }, Buffer.from("x"));
    const before = h.sent.length;
    await h.clock.advance(240_000);
    const refreshes = new Set(h.sent.slice(before).filter((m) => m.method === METHOD.CREATE_PERMISSION).map((m) => m.transactionId.toString("hex")));
    expect(refreshes.size).toBe(1);
    await answerLast();
    expect(h.client.send({ address: "203.0.113.1", port: 1 }, Buffer.from("still"))).toBe(true);
    expect(h.client.send({ address: "203.0.113.2", port: 1 }, Buffer.from("gone"))).toBe(false);
  });

  it("refreshes the allocation a minute before its lifetime ends, and reports its loss when a refresh fails", async () => {
    const h = harness({ rtoMs: 100, maxTransmissions: 2 });
    const { key } = await allocate(h);
    let lost: TurnError | undefined;
    h.client.onClose((e) => (lost = e));
    const before = h.sent.length;
    await h.clock.advance(539_000);
    expect(h.sent.length).toBe(before);
    await h.clock.advance(1_000);
    const refresh = h.sent.at(-1)!;
    expect(refresh.method).toBe(METHOD.REFRESH);
    h.client.receive(answer(refresh, "success", [lifetimeAttr(300)], key));
    await h.clock.advance(0);
    expect(h.client.allocation?.lifetime).toBe(300);
    // The next refresh, 240 s on, gets the answer a server gives an allocation it no longer has.
    await h.clock.advance(240_000);
    h.client.receive(answer(h.sent.at(-1)!, "error", [errorAttr(437, "Allocation Mismatch")], key));
    await h.clock.advance(0);
    expect(lost).toMatchObject({ code: "turn_refused", status: 437 });
    expect(() => h.client.permit("203.0.113.1")).toThrow(TurnError);
  });

  it("caps permissions and channels", async () => {
    const h = harness({ maxPermissions: 2, maxChannels: 1 });
    await allocate(h);
    void h.client.permit("203.0.113.1").catch(() => undefined);
    void h.client.permit("203.0.113.2").catch(() => undefined);
    expect(() => h.client.permit("203.0.113.3")).toThrow(expect.objectContaining({ code: "turn_limit" }));
    void h.client.bind({ address: "203.0.113.1", port: 1 }).catch(() => undefined);
    expect(() => h.client.bind({ address: "203.0.113.1", port: 2 })).toThrow(expect.objectContaining({ code: "turn_limit" }));
    const closing = h.client.close();
    await h.clock.advance(60_000);
    await closing;
  });

  it("refuses calls its state does not allow", async () => {
    const h = harness();
    expect(() => h.client.permit("203.0.113.1")).toThrow(expect.objectContaining({ code: "turn_state" }));
    expect(h.client.send({ address: "203.0.113.1", port: 1 }, Buffer.from("x"))).toBe(false);
    await allocate(h);
    await expect(h.client.allocate(SERVER, "user", PASSWORD)).rejects.toMatchObject({ code: "turn_state" });
  });
});

// errorCode is STUN's; the scripted server above relies on it reading what it wrote.
it("reads ERROR-CODE as class and number", () => {
  const m = decodeStun(encodeStun(METHOD.ALLOCATE, "error", Buffer.alloc(12), [errorAttr(438, "Stale Nonce")]));
  expect(errorCode(m)).toEqual({ code: 438, reason: "Stale Nonce" });
});
