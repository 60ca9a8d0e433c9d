import { describe, expect, it } from "vitest";
import { newEphemeral, sharedSecret, verifyEd25519 } from "../src/crypto/keys.ts";
import { deriveKeys, ReplayWindow, Session, SMALL_PACKET_BYTES } from "../src/crypto/session.ts";
import { Identity } from "../src/identity.ts";
import { decodePacket, encodePacket, PacketError, PROTOCOL, type Packet } from "../src/wire/packet.ts";
import { helloBody, helloSigningInput, parseHello, parseSealedHeader, HELLO_BYTES } from "../src/wire/tunnel.ts";
import { TestSigner } from "./certificate-signer.ts";

/** A sealed frame as the datagram that carries it. */
const oneFrame = (frame: Buffer | Buffer[]): Buffer => (Buffer.isBuffer(frame) ? frame : Buffer.concat(frame));

const packet = (payload = Buffer.from("hello")): Packet => ({
  flags: 0,
  protocol: PROTOCOL.datagram,
  src: { network: 0, node: 7 },
  dst: { network: 3, node: 0xdeadbeef },
  srcPort: 49152,
  dstPort: 1001,
  seq: 1,
  ack: 0,
  window: 0,
  payload,
});

describe("the Pilot packet header, version 2", () => {
  it("round-trips, big-endian, 30 bytes before the payload", () => {
    const bytes = encodePacket(packet());
    expect(bytes.length).toBe(30 + 5);
    expect(bytes[0]).toBe(0x20);
    expect(bytes.readUInt32BE(12)).toBe(0xdeadbeef);
    expect(decodePacket(bytes)).toEqual(packet());
  });

  it.each([
    ["a short buffer", (b: Buffer) => b.subarray(0, 20)],
    ["version 1", (b: Buffer) => { const c = Buffer.from(b); c[0] = 0x10; return c; }],
    ["version 3", (b: Buffer) => { const c = Buffer.from(b); c[0] = 0x30; return c; }],
    ["an unknown protocol", (b: Buffer) => { const c = Buffer.from(b); c[1] = 4; return c; }],
    ["trailing bytes", (b: Buffer) => Buffer.concat([b, Buffer.from([0])])],
    ["a length past the end", (b: Buffer) => { const c = Buffer.from(b); c.writeUInt16BE(500, 2); return c; }],
  ])("refuses %s", (_, bend) => {
    expect(() => decodePacket(bend(encodePacket(packet())))).toThrow(PacketError);
  });
});

describe("the replay window", () => {
  it("takes each counter once, in any order inside the window, and nothing too old", () => {
    const w = new ReplayWindow();
    expect(w.fresh(0)).toBe(false);
    for (const c of [5, 3, 4, 10, 1]) {
      expect(w.fresh(c)).toBe(true);
      w.record(c);
      expect(w.fresh(c)).toBe(false);
    }
    expect(w.fresh(2)).toBe(true);
    w.record(5000);
    expect(w.fresh(2)).toBe(false);
    expect(w.fresh(5000 - 2047)).toBe(true);
    expect(w.fresh(5000 - 2048)).toBe(false);
    expect(w.fresh(10)).toBe(false);
  });

  it("refuses a replay just past the window's edge, whose slot a jump has emptied", () => {
    const w = new ReplayWindow();
    w.record(100);
    w.record(100 + 2058);
    expect(w.fresh(100)).toBe(false);
    expect(w.fresh(100 + 2058 - 2047)).toBe(true);
  });

  it("takes a new counter whose slot an old one held, once the window has moved past it", () => {
    const w = new ReplayWindow();
    w.record(5);
    w.record(1000);
    // Out of order, as a real path delivers: 2060 first, then 2053, which shares 5's slot.
    w.record(2060);
    expect(w.fresh(2053)).toBe(true);
    w.record(2053);
    expect(w.fresh(2053)).toBe(false);
  });
});

function pair() {
  const [a, b] = [newEphemeral(), newEphemeral()];
  const secretA = sharedSecret(a, b.publicKey)!;
  const secretB = sharedSecret(b, a.publicKey)!;
  expect(secretA).toEqual(secretB);
  const init = { node: 1, ephemeral: a.publicKey };
  const resp = { node: 2, ephemeral: b.publicKey };
  return { alice: new Session(deriveKeys(secretA, init, resp, "initiate"), 1), bob: new Session(deriveKeys(secretB, init, resp, "respond"), 2) };
}

describe("a tunnel session", () => {
  it("seals packets that only the peer opens, once", () => {
    const { alice, bob } = pair();
    const frame = oneFrame(alice.seal([Buffer.from("secret payload")]));
    expect(frame.includes(Buffer.from("secret payload"))).toBe(false);
    const header = parseSealedHeader(frame)!;
    expect(header).toEqual({ sender: 1, keyId: alice.keyId, counter: 1 });
    expect(bob.open(frame, header)?.toString()).toBe("secret payload");
    expect(bob.open(frame, header)).toBeNull();
    // Keys are directional: a frame cannot be reflected back to its sender.
    const back = oneFrame(alice.seal([Buffer.from("x")]));
    expect(alice.open(back, parseSealedHeader(back)!)).toBeNull();
  });

  it("seals a packet of any size given in parts, small ones into one buffer and large ones without copying the parts", () => {
    const { alice, bob } = pair();
    for (const size of [1, 1400, 4096, 4097, 65_000]) {
      const data = Buffer.alloc(size, size % 251);
      const parts = [Buffer.from("head"), data.subarray(0, size >> 1), data.subarray(size >> 1)];
      const sealed = alice.seal(parts);
      expect(Buffer.isBuffer(sealed)).toBe(size + 4 <= 4096);
      const frame = oneFrame(sealed);
      expect(bob.open(frame, parseSealedHeader(frame)!)).toEqual(Buffer.concat(parts));
    }
  });

  it("tells the two AEADs apart by the packet's length, so a frame padded across the line or cut below it opens with neither", () => {
    const { alice, bob } = pair();
    const frameOf = (size: number) => oneFrame(alice.seal([Buffer.alloc(size, 7)]));
    const body = (frame: Buffer) => frame.subarray(20, frame.length - 16);
    const tag = (frame: Buffer) => frame.subarray(frame.length - 16);
    // ChaCha20-Poly1305's largest, one byte longer: AES-GCM's length, under ChaCha20-Poly1305's tag.
    const small = frameOf(SMALL_PACKET_BYTES);
    const padded = Buffer.concat([small.subarray(0, 20), body(small), Buffer.of(0), tag(small)]);
    expect(bob.open(padded, parseSealedHeader(padded)!)).toBeNull();
    // AES-GCM's smallest, one byte shorter.
    const large = frameOf(SMALL_PACKET_BYTES + 1);
    const cut = Buffer.concat([large.subarray(0, 20), body(large).subarray(1), tag(large)]);
    expect(bob.open(cut, parseSealedHeader(cut)!)).toBeNull();
    // Both were refused for the change alone: as sent, each opens.
    expect(bob.open(small, parseSealedHeader(small)!)?.length).toBe(SMALL_PACKET_BYTES);
    expect(bob.open(large, parseSealedHeader(large)!)?.length).toBe(SMALL_PACKET_BYTES + 1);
  });

  it("changes nothing when an open fails, and opens a frame once even though the first open overwrites it", () => {
    const { alice, bob } = pair();
    // The empty packet and ChaCha20-Poly1305's largest are opened in place; AES-GCM's smallest is not.
    for (const size of [0, SMALL_PACKET_BYTES, SMALL_PACKET_BYTES + 1]) {
      const packet = Buffer.alloc(size, 0x5a);
      const frame = oneFrame(alice.seal([packet]));
      const pristine = Buffer.from(frame);
      const header = parseSealedHeader(frame)!;
      const tagBitFlipped = Buffer.from(frame);
      tagBitFlipped[tagBitFlipped.length - 1]! ^= 1;
      // Same header and counter, each a forgery: a bit of the tag, the tag cut by a byte (for the
      // empty packet, shorter than a header and tag: the parser refuses it first), a byte more.
      for (const forged of [tagBitFlipped, frame.subarray(0, frame.length - 1), Buffer.concat([frame, Buffer.of(0)])]) {
        const before = Buffer.from(forged);
        expect(bob.open(forged, header), `a forgery of a ${size}-byte packet`).toBeNull();
        expect(forged.equals(before), `a forgery of a ${size}-byte packet, left as it came`).toBe(true);
      }
      // The forgeries left the counter unused: the frame as sent opens, once, whether it comes again
      // as sent or as the buffer the first open left behind.
      expect(bob.open(frame, header)?.equals(packet)).toBe(true);
      expect(bob.open(pristine, header)).toBeNull();
      expect(bob.open(frame, header)).toBeNull();
    }
  });

  it("keeps each AEAD's keys apart, per direction and from the other AEAD's", () => {
    const [a, b] = [newEphemeral(), newEphemeral()];
    const keys = deriveKeys(sharedSecret(a, b.publicKey)!, { node: 1, ephemeral: a.publicKey }, { node: 2, ephemeral: b.publicKey }, "initiate");
    const all = [keys.send.small, keys.send.large, keys.receive.small, keys.receive.large].map((k) => k.toString("hex"));
    expect(new Set(all).size).toBe(4);
    expect(all.every((k) => k.length === 64)).toBe(true);
  });

  it("reads a counter as the u64 it is, and refuses one no session reaches (2^53 and up) as malformed", () => {
    const { alice } = pair();
    const frame = oneFrame(alice.seal([Buffer.from("payload")]));
    const at = (hi: number, lo: number) => {
      const b = Buffer.from(frame);
      b.writeUInt32BE(hi, 12);
      b.writeUInt32BE(lo, 16);
      return parseSealedHeader(b);
    };
    expect(at(0x1f_ffff, 0xffff_ffff)?.counter).toBe(Number.MAX_SAFE_INTEGER);
    expect(at(1, 2)?.counter).toBe(2 ** 32 + 2);
    expect(at(0x20_0000, 0)).toBeNull();
    expect(at(0xffff_ffff, 0xffff_ffff)).toBeNull();
  });

  it("refuses a frame with any byte changed, including the sender in the associated data", () => {
    const { alice, bob } = pair();
    const frame = oneFrame(alice.seal([Buffer.from("payload")]));
    for (let i = 4; i < frame.length; i++) {
      const bent = Buffer.from(frame);
      bent[i]! ^= 0x40;
      const header = parseSealedHeader(bent)!;
      expect(bob.open(bent, { ...header, keyId: bob.keyId })).toBeNull();
    }
    expect(bob.open(frame, parseSealedHeader(frame)!)).not.toBeNull();
  });

  it("refuses a frame from another session between the same nodes", () => {
    const { alice } = pair();
    const { bob } = pair();
    const frame = oneFrame(alice.seal([Buffer.from("payload")]));
    expect(bob.open(frame, { ...parseSealedHeader(frame)!, keyId: bob.keyId })).toBeNull();
  });

  it("asks for a new key with age, and stops working when too old", () => {
    const { alice, bob } = pair();
    const now = Date.now();
    expect(alice.needsRekey(now + 121_000)).toBe(true);
    expect(alice.needsRekey(now)).toBe(false);
    const frame = oneFrame(alice.seal([Buffer.from("late")]));
    expect(bob.open(frame, parseSealedHeader(frame)!, now + 181_000)).toBeNull();
  });

  it("refuses a low-order X25519 key", () => {
    expect(sharedSecret(newEphemeral(), Buffer.alloc(32))).toBeNull();
    expect(sharedSecret(newEphemeral(), Buffer.alloc(31))).toBeNull();
  });
});

describe("the signed key exchange", () => {
  it("verifies only with the sender's identity key and only unchanged", () => {
    const id = Identity.generate();
    const other = Identity.generate();
    const eph = newEphemeral();
    const body = helloBody("initiate", 5, 9, 1_700_000_000_000, eph.publicKey);
    const frame = Buffer.concat([body, Buffer.from(id.sign(helloSigningInput(body)), "base64")]);
    expect(frame.length).toBe(HELLO_BYTES);
    const hello = parseHello(frame)!;
    expect(hello).toMatchObject({ role: "initiate", sender: 5, receiver: 9, time: 1_700_000_000_000 });
    const key = Buffer.from(id.publicKey, "base64");
    expect(verifyEd25519(key, helloSigningInput(hello.signed), hello.signature)).toBe(true);
    expect(verifyEd25519(Buffer.from(other.publicKey, "base64"), helloSigningInput(hello.signed), hello.signature)).toBe(false);
    const bent = Buffer.from(frame);
    bent[13]! ^= 1;
    const forged = parseHello(bent)!;
    expect(verifyEd25519(key, helloSigningInput(forged.signed), forged.signature)).toBe(false);
    expect(hello.answers).toEqual(Buffer.alloc(32));
    expect(parseHello(frame.subarray(0, 100))).toBeNull();
    expect(parseHello(Buffer.concat([Buffer.from("PILT"), frame.subarray(4)]))).toBeNull();
    expect(hello.certificate).toBeNull();
  });

  it("carries the sender's certificate inside the signed part, bound to that hello", () => {
    const id = Identity.generate();
    const certificate = new TestSigner().certify(5, id.publicKey);
    const body = helloBody("initiate", 5, 9, 1_700_000_000_000, newEphemeral().publicKey, undefined, certificate);
    const frame = Buffer.concat([body, Buffer.from(id.sign(helloSigningInput(body)), "base64")]);
    expect(frame.length).toBe(HELLO_BYTES + 129);
    const hello = parseHello(frame)!;
    expect(hello.certificate).toEqual(certificate);
    expect(hello.signed.length).toBe(frame.length - 64);
    const key = Buffer.from(id.publicKey, "base64");
    expect(verifyEd25519(key, helloSigningInput(hello.signed), hello.signature)).toBe(true);
    // Another certificate in the same hello breaks the signature: it cannot be swapped in transit.
    const swapped = Buffer.from(frame);
    swapped[87 + 100]! ^= 1;
    const forged = parseHello(swapped)!;
    expect(verifyEd25519(key, helloSigningInput(forged.signed), forged.signature)).toBe(false);
    // A hello of the version before certificates is not read.
    const old = Buffer.from(frame);
    old[4] = 2;
    expect(parseHello(old)).toBeNull();
    expect(() => helloBody("initiate", 5, 9, 1, newEphemeral().publicKey, undefined, certificate.subarray(1))).toThrow(RangeError);
  });
});
