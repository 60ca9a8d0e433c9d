/**
 * A tunnel session between two daemons: directional keys from HKDF-SHA256 over the X25519 secret of
 * their ephemerals, a counter nonce, and a sliding replay window.
 *
 * Two AEADs share the work by the packet's size, each with keys of its own. A packet of up to
 * SMALL_PACKET_BYTES (every packet of an internet path, and every acknowledgement) is sealed with
 * ChaCha20-Poly1305 in WebAssembly, which allocates nothing; a larger one (jumbo frames, loopback)
 * with Node's AES-256-GCM, whose per-call cost (a cipher object per nonce) is small beside the
 * bytes, where AES-NI is about four times faster than ChaCha20 in WebAssembly. Both ends tell
 * which from the frame's length, which either tag covers: a frame cut or padded across the line
 * is opened with the other key and fails.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { PILS, SEALED_HEADER_BYTES, TAG_BYTES, writeCounter, type SealedHeader } from "../wire/tunnel.ts";
import * as chacha from "./chacha20-poly1305.ts";

/** Rotate keys after this long, this many packets, or this many bytes, whichever comes first. */
export const REKEY_AFTER_MS = 120_000;
export const REKEY_AFTER_PACKETS = 2 ** 24;
export const REKEY_AFTER_BYTES = 2 ** 34;
/** A session past this age or volume is refused outright, rekeyed or not. */
export const REJECT_AFTER_MS = 180_000;

const WINDOW = 2048;
/**
 * Packets up to this size go through ChaCha20-Poly1305, larger ones through AES-256-GCM. Measured
 * on this project's machines, the two cost the same near 4 KiB when the line was drawn:
 * ChaCha20-Poly1305 here about 2 µs at 1,418 bytes and 17 µs at 8,906; Node's AES-GCM about 7 µs
 * and 9 µs. Since gc-tuning.ts has V8 free buffers within its collections, AES-GCM takes 2.9 and
 * 3.7 µs and the two meet near 1.9 KB; the line stays, since both ends must draw it alike.
 */
export const SMALL_PACKET_BYTES = 4096;

/**
 * Counters seen, over the last WINDOW values below the highest. Counters are plain numbers, exact
 * far beyond any a session reaches (it is refused after 2^25 packets); BigInts cost an allocation
 * per operation, several per packet.
 */
export class ReplayWindow {
  #highest = 0;
  readonly #bits = new Uint32Array(WINDOW / 32);

  /** Whether `counter` is new (not seen and not too old); does not record it. */
  fresh(counter: number): boolean {
    if (counter === 0) return false;
    if (counter > this.#highest) return true;
    if (this.#highest - counter >= WINDOW) return false;
    const slot = counter % WINDOW;
    return (this.#bits[slot >>> 5]! & (1 << (slot & 31))) === 0;
  }

  /** Records `counter`, which must have been fresh and authenticated. */
  record(counter: number): void {
    if (counter > this.#highest) {
      if (counter - this.#highest >= WINDOW) this.#bits.fill(0);
      else for (let c = this.#highest + 1; c < counter; c++) this.#clear(c);
      this.#highest = counter;
    }
    const slot = counter % WINDOW;
    this.#bits[slot >>> 5]! |= 1 << (slot & 31);
  }

  #clear(counter: number): void {
    const slot = counter % WINDOW;
    this.#bits[slot >>> 5]! &= ~(1 << (slot & 31));
  }
}

/** One direction's keys: ChaCha20-Poly1305's for small packets, AES-256-GCM's for large. */
export interface DirectionKeys {
  small: Buffer;
  large: Buffer;
}

export interface SessionKeys {
  keyId: number;
  send: DirectionKeys;
  receive: DirectionKeys;
}

/**
 * Both directions' keys and the key ID, from one HKDF: salt is the initiator's then the responder's
 * ephemeral, info names the version and both nodes, so keys are bound to this exchange and these two.
 */
export function deriveKeys(
  secret: Buffer,
  initiator: { node: number; ephemeral: Buffer },
  responder: { node: number; ephemeral: Buffer },
  weAre: "initiate" | "respond",
): SessionKeys {
  const info = Buffer.alloc(28);
  Buffer.from("pilot-tunnel-v3/keys").copy(info, 0);
  info.writeUInt32BE(initiator.node, 20);
  info.writeUInt32BE(responder.node, 24);
  const okm = Buffer.from(hkdfSync("sha256", secret, Buffer.concat([initiator.ephemeral, responder.ephemeral]), info, 132));
  const key = (i: number) => okm.subarray(32 * i, 32 * i + 32);
  const forward = { small: key(0), large: key(1) };
  const backward = { small: key(2), large: key(3) };
  return {
    keyId: okm.readUInt32BE(128),
    send: weAre === "initiate" ? forward : backward,
    receive: weAre === "initiate" ? backward : forward,
  };
}

export class Session {
  readonly keyId: number;
  readonly createdAt: number;
  readonly #me: number;
  readonly #send: DirectionKeys;
  readonly #receive: DirectionKeys;
  readonly #window = new ReplayWindow();
  #counter = 0;
  #bytes = 0;
  /** Four zero bytes and a counter: filled in for each packet (the cipher copies it), never allocated anew. */
  readonly #nonceBytes = Buffer.alloc(12);

  constructor(keys: SessionKeys, me: number, now = Date.now()) {
    this.keyId = keys.keyId;
    this.#send = keys.send;
    this.#receive = keys.receive;
    this.#me = me;
    this.createdAt = now;
  }

  needsRekey(now = Date.now()): boolean {
    return now - this.createdAt > REKEY_AFTER_MS || this.#counter >= REKEY_AFTER_PACKETS || this.#bytes >= REKEY_AFTER_BYTES;
  }

  expired(now = Date.now()): boolean {
    return now - this.createdAt > REJECT_AFTER_MS || this.#counter >= 2 * REKEY_AFTER_PACKETS;
  }

  /**
   * The sealed frame for a packet given in parts, to send as one datagram. A small packet is sealed
   * into one buffer. A large one (up to 64 KiB on loopback) is encrypted part by part and sent as
   * header, ciphertext parts and tag, never copied: there the copies would cost more than the calls.
   */
  seal(packet: readonly Buffer[]): Buffer | Buffer[] {
    const counter = ++this.#counter;
    let length = 0;
    for (const part of packet) length += part.length;
    this.#bytes += length;
    const small = length <= SMALL_PACKET_BYTES;
    // The first buffer out: the whole frame when small, else the header alone (the parts follow it).
    const first = Buffer.allocUnsafe(small ? SEALED_HEADER_BYTES + length + TAG_BYTES : SEALED_HEADER_BYTES);
    PILS.copy(first, 0);
    first.writeUInt32BE(this.#me, 4);
    first.writeUInt32BE(this.keyId, 8);
    writeCounter(first, counter, 12);
    const header = first.subarray(0, SEALED_HEADER_BYTES);
    if (small) {
      chacha.seal(this.#send.small, this.#nonce(counter), header, packet, length, first, SEALED_HEADER_BYTES);
      return first;
    }
    const cipher = createCipheriv("aes-256-gcm", this.#send.large, this.#nonce(counter), { authTagLength: TAG_BYTES });
    cipher.setAAD(header);
    const frame: Buffer[] = [first];
    for (const part of packet) frame.push(cipher.update(part));
    cipher.final();
    frame.push(cipher.getAuthTag());
    return frame;
  }

  #nonce(counter: number): Buffer {
    writeCounter(this.#nonceBytes, counter, 4);
    return this.#nonceBytes;
  }

  /**
   * The packet inside `frame`, or null if it is replayed, forged, or for another key. A small
   * packet is opened in place: the frame's body becomes the packet returned.
   */
  open(frame: Buffer, header: SealedHeader, now = Date.now()): Buffer | null {
    if (header.keyId !== this.keyId || this.expired(now) || !this.#window.fresh(header.counter)) return null;
    const body = frame.subarray(SEALED_HEADER_BYTES, frame.length - TAG_BYTES);
    const aad = frame.subarray(0, SEALED_HEADER_BYTES);
    const tag = frame.subarray(frame.length - TAG_BYTES);
    let packet: Buffer | null = null;
    if (body.length <= SMALL_PACKET_BYTES) {
      if (chacha.openInPlace(this.#receive.small, this.#nonce(header.counter), aad, body, tag)) packet = body;
    } else {
      try {
        const decipher = createDecipheriv("aes-256-gcm", this.#receive.large, this.#nonce(header.counter), { authTagLength: TAG_BYTES });
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        packet = decipher.update(body);
        decipher.final();
      } catch {
        packet = null;
      }
    }
    if (packet) this.#window.record(header.counter);
    return packet;
  }
}
