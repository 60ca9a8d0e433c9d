import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_AAD_BYTES, MAX_MESSAGE_BYTES, openInPlace, seal } from "../src/crypto/chacha20-poly1305.ts";

/** Node's own ChaCha20-Poly1305 (OpenSSL's), the oracle the module is held to. */
function oracle(key: Buffer, nonce: Buffer, aad: Buffer, message: Buffer) {
  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad, { plaintextLength: message.length });
  const ciphertext = Buffer.concat([cipher.update(message), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

function sealed(key: Buffer, nonce: Buffer, aad: Buffer, parts: Buffer[]) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = Buffer.alloc(length + 16);
  seal(key, nonce, aad, parts, length, out, 0);
  return { ciphertext: out.subarray(0, length), tag: out.subarray(length) };
}

const P1305 = (1n << 130n) - 5n;
const littleEndian = (b: Buffer): bigint => b.reduceRight((x, byte) => (x << 8n) | BigInt(byte), 0n);
const toLittleEndian = (x: bigint, bytes: number): Buffer => Buffer.from(Array.from({ length: bytes }, (_, i) => Number((x >> BigInt(8 * i)) & 255n)));
const powMod = (base: bigint, exponent: bigint): bigint => {
  let result = 1n;
  for (let b = base % P1305, e = exponent; e > 0n; e >>= 1n, b = (b * b) % P1305) if (e & 1n) result = (result * b) % P1305;
  return result;
};
const mod = (x: bigint): bigint => ((x % P1305) + P1305) % P1305;

/** ChaCha20's keystream from block `counter` on (OpenSSL's raw ChaCha20 takes the counter, little-endian, before the nonce). */
const keystream = (key: Buffer, nonce: Buffer, counter: number, bytes: number): Buffer =>
  createCipheriv("chacha20", key, Buffer.concat([toLittleEndian(BigInt(counter), 4), nonce])).update(Buffer.alloc(bytes));

/**
 * A ciphertext of `blocks` whole blocks, without associated data, whose Poly1305 value before `s`
 * is added is `target` (mod p), and the message it encrypts. Poly1305 is linear in each block, so
 * the last block is solved for; it must then lie in [2^128, 2^129) (a 16-byte block and its high
 * bit), which one random key in four allows.
 */
function craftedPoly1305(target: bigint, blocks: number) {
  for (;;) {
    const [key, nonce, prefix] = [randomBytes(32), randomBytes(12), randomBytes(16 * (blocks - 1))];
    const polyKey = keystream(key, nonce, 0, 32);
    const r = littleEndian(polyKey.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
    const rInverse = powMod(r, P1305 - 2n);
    let h = 0n;
    for (let at = 0; at < prefix.length; at += 16) h = ((h + littleEndian(prefix.subarray(at, at + 16)) + (1n << 128n)) * r) % P1305;
    const lengths = (BigInt(16 * blocks) << 64n) + (1n << 128n);
    const last = mod(mod(target * rInverse - lengths) * rInverse - h) - (1n << 128n);
    if (last < 0n || last >= 1n << 128n) continue;
    const ciphertext = Buffer.concat([prefix, toLittleEndian(last, 16)]);
    const stream = keystream(key, nonce, 1, ciphertext.length);
    const message = Buffer.from(ciphertext.map((byte, i) => byte ^ stream[i]!));
    const tag = toLittleEndian((target + littleEndian(polyKey.subarray(16))) & ((1n << 128n) - 1n), 16);
    return { key, nonce, message, ciphertext, tag };
  }
}

describe("ChaCha20-Poly1305 in WebAssembly", () => {
  it("gives RFC 8439's AEAD test vector (section 2.8.2)", () => {
    const key = Buffer.from("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", "hex");
    const nonce = Buffer.from("070000004041424344454647", "hex");
    const aad = Buffer.from("50515253c0c1c2c3c4c5c6c7", "hex");
    const message = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const { ciphertext, tag } = sealed(key, nonce, aad, [message]);
    expect(ciphertext.toString("hex")).toBe(
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
        "3ff4def08e4b7a9de576d26586cec64b6116",
    );
    expect(tag.toString("hex")).toBe("1ae10b594f09e26a7e902ecbd0600691");
  });

  it("matches OpenSSL's at every length to 600 bytes, around each block and chunk boundary, and at the largest", () => {
    const lengths = [...Array.from({ length: 601 }, (_, i) => i), 1023, 1024, 1025, 1418, 4095, 4096, 4097, 8906, 65_535, MAX_MESSAGE_BYTES];
    const aadLengths = [0, 1, 15, 16, 17, 20, 31, 32, 33, MAX_AAD_BYTES];
    for (const [i, length] of lengths.entries()) {
      const [key, nonce, aad, message] = [randomBytes(32), randomBytes(12), randomBytes(aadLengths[i % aadLengths.length]!), randomBytes(length)];
      const expected = oracle(key, nonce, aad, message);
      // Given in parts, as a packet's header, SACK blocks and data are.
      const cut = [0, length >> 2, length >> 1, length];
      const got = sealed(key, nonce, aad, cut.slice(1).map((end, j) => message.subarray(cut[j], end)));
      expect(got.ciphertext.equals(expected.ciphertext), `ciphertext at ${length} bytes`).toBe(true);
      expect(got.tag.equals(expected.tag), `tag at ${length} bytes, ${aad.length} of associated data`).toBe(true);
      const inPlace = Buffer.from(expected.ciphertext);
      expect(openInPlace(key, nonce, aad, inPlace, expected.tag)).toBe(true);
      expect(inPlace.equals(message)).toBe(true);
    }
  });

  it("reduces Poly1305's accumulator when it ends at p or just past it, where random messages never go", () => {
    // A value below 5 mod p comes out of the last block as itself plus p (in every case tried), so the
    // final reduction must take h - p: a branch random messages reach about once in 2^128 tags. Values
    // 5 to 7 are kept as they are, just past it.
    for (let target = 0n; target < 8n; target++) {
      for (const blocks of [1, 2, 5]) {
        const { key, nonce, message, ciphertext, tag } = craftedPoly1305(target, blocks);
        const expected = oracle(key, nonce, Buffer.alloc(0), message);
        expect(expected.ciphertext.equals(ciphertext) && expected.tag.equals(tag), "the crafted case, by OpenSSL").toBe(true);
        const got = sealed(key, nonce, Buffer.alloc(0), [message]);
        expect(got.tag.toString("hex"), `the tag for Poly1305 value ${target} over ${blocks} blocks`).toBe(tag.toString("hex"));
        const inPlace = Buffer.from(ciphertext);
        expect(openInPlace(key, nonce, Buffer.alloc(0), inPlace, tag)).toBe(true);
        expect(inPlace.equals(message)).toBe(true);
      }
    }
  });

  it("opens nothing with any bit of the ciphertext, tag, associated data, nonce or key changed, and leaves the ciphertext as it was", () => {
    const [key, nonce, aad, message] = [randomBytes(32), randomBytes(12), randomBytes(20), randomBytes(300)];
    const { ciphertext, tag } = oracle(key, nonce, aad, message);
    const refuses = (k: Buffer, n: Buffer, a: Buffer, c: Buffer, t: Buffer) => {
      const before = Buffer.from(c);
      expect(openInPlace(k, n, a, c, t)).toBe(false);
      expect(c.equals(before)).toBe(true);
    };
    const flipped = (b: Buffer, bit: number) => {
      const c = Buffer.from(b);
      c[bit >> 3]! ^= 1 << (bit & 7);
      return c;
    };
    for (let bit = 0; bit < ciphertext.length * 8; bit += 7) refuses(key, nonce, aad, flipped(ciphertext, bit), tag);
    for (let bit = 0; bit < 128; bit++) refuses(key, nonce, aad, Buffer.from(ciphertext), flipped(tag, bit));
    for (let bit = 0; bit < aad.length * 8; bit += 3) refuses(key, nonce, flipped(aad, bit), Buffer.from(ciphertext), tag);
    for (let bit = 0; bit < 96; bit += 5) refuses(key, flipped(nonce, bit), aad, Buffer.from(ciphertext), tag);
    refuses(flipped(key, 77), nonce, aad, Buffer.from(ciphertext), tag);
    // Shorter or longer, and a tag cut short.
    refuses(key, nonce, aad, Buffer.from(ciphertext.subarray(1)), tag);
    refuses(key, nonce, aad, Buffer.concat([ciphertext, Buffer.alloc(1)]), tag);
    refuses(key, nonce, aad, Buffer.from(ciphertext), tag.subarray(0, 15));
    // Unchanged, it opens (every refusal above came from the change).
    expect(openInPlace(key, nonce, aad, Buffer.from(ciphertext), tag)).toBe(true);
  });

  it("keeps sessions apart when calls alternate between keys", () => {
    const [one, two, nonce, aad] = [randomBytes(32), randomBytes(32), randomBytes(12), Buffer.alloc(0)];
    for (let i = 0; i < 6; i++) {
      const key = i % 2 ? two : one;
      const message = randomBytes(100 + i);
      const expected = oracle(key, nonce, aad, message);
      const got = sealed(key, nonce, aad, [message]);
      expect(got.tag.equals(expected.tag)).toBe(true);
    }
  });

  it("refuses what its memory cannot hold, and keys and nonces of the wrong size", () => {
    const [key, nonce] = [randomBytes(32), randomBytes(12)];
    const out = Buffer.alloc(MAX_MESSAGE_BYTES + 32);
    expect(() => seal(key, nonce, Buffer.alloc(0), [Buffer.alloc(MAX_MESSAGE_BYTES + 1)], MAX_MESSAGE_BYTES + 1, out, 0)).toThrow(RangeError);
    expect(() => seal(key, nonce, Buffer.alloc(MAX_AAD_BYTES + 1), [], 0, out, 0)).toThrow(RangeError);
    expect(() => seal(key.subarray(1), nonce, Buffer.alloc(0), [], 0, out, 0)).toThrow(RangeError);
    expect(() => openInPlace(key, nonce.subarray(1), Buffer.alloc(0), Buffer.alloc(4), Buffer.alloc(16))).toThrow(RangeError);
    expect(() => seal(key, nonce, Buffer.alloc(0), [Buffer.alloc(3)], 4, out, 0)).toThrow(RangeError);
  });
});
