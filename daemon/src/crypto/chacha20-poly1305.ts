/**
 * ChaCha20-Poly1305 (RFC 8439) in WebAssembly (chacha20-poly1305.wat), for packets up to a few KiB.
 * Node's ciphers take a new object for every nonce, and at 1,500-byte packets that object, its
 * output buffers and their garbage cost each daemon about half its CPU; here a message is sealed or
 * opened in the module's memory with nothing allocated. Large packets are cheaper through Node's
 * AES-GCM, whose per-byte speed (AES-NI) outweighs its per-call cost (session.ts chooses).
 *
 * The module is one instance per process, and calls run to completion: the event loop never
 * interleaves two.
 */
import { CHACHA20_POLY1305_WASM } from "./chacha20-poly1305-wasm.ts";

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** The longest message and associated data the module's memory holds. */
export const MAX_MESSAGE_BYTES = 65_536;
export const MAX_AAD_BYTES = 128;

/** Where the module expects each input (the layout in chacha20-poly1305.wat). */
const AT = { key: 0, nonce: 32, tag: 64, aad: 128, message: 1024 } as const;

interface Exports {
  memory: { buffer: ArrayBuffer };
  seal(aadBytes: number, messageBytes: number): void;
  open(aadBytes: number, messageBytes: number): number;
}

/** Node runs WebAssembly, but the type libraries this project builds with (esnext, Node's) declare none of it. */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
const wasm = new Instance(new Module(Buffer.from(CHACHA20_POLY1305_WASM, "base64"))).exports as Exports;
// The memory never grows, so this view of it stays valid.
const memory = Buffer.from(wasm.memory.buffer);
/** The key now in the module's memory: a session's packets come in runs, and each run loads it once. */
let loadedKey: Buffer | undefined;

function load(key: Buffer, nonce: Buffer, aad: Buffer, length: number): void {
  if (key.length !== KEY_BYTES || nonce.length !== NONCE_BYTES) throw new RangeError(`a ChaCha20-Poly1305 key is ${KEY_BYTES} bytes and a nonce ${NONCE_BYTES}`);
  if (aad.length > MAX_AAD_BYTES || length > MAX_MESSAGE_BYTES) throw new RangeError(`at most ${MAX_MESSAGE_BYTES} bytes of message and ${MAX_AAD_BYTES} of associated data`);
  if (key !== loadedKey) {
    key.copy(memory, AT.key);
    loadedKey = key;
  }
  nonce.copy(memory, AT.nonce);
  aad.copy(memory, AT.aad);
}

/**
 * Seals the message given in parts (`length` bytes in all) into `out` at `at`: the ciphertext,
 * then the 16-byte tag. Keys given here must not change afterwards (the module keeps the last).
 */
export function seal(key: Buffer, nonce: Buffer, aad: Buffer, message: readonly Buffer[], length: number, out: Buffer, at: number): void {
  load(key, nonce, aad, length);
  let offset = AT.message;
  for (const part of message) offset += part.copy(memory, offset);
  if (offset - AT.message !== length) throw new RangeError(`the parts hold ${offset - AT.message} bytes, not ${length}`);
  wasm.seal(aad.length, length);
  memory.copy(out, at, AT.message, AT.message + length);
  memory.copy(out, at + length, AT.tag, AT.tag + TAG_BYTES);
}

/**
 * Opens `ciphertext` against `tag`, and on success writes the plaintext over the ciphertext (the
 * caller's buffer) and returns true; returns false, the buffer untouched, if the tag is wrong.
 */
export function openInPlace(key: Buffer, nonce: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): boolean {
  if (tag.length !== TAG_BYTES) return false;
  load(key, nonce, aad, ciphertext.length);
  ciphertext.copy(memory, AT.message);
  tag.copy(memory, AT.tag);
  if (wasm.open(aad.length, ciphertext.length) !== 1) return false;
  memory.copy(ciphertext, 0, AT.message, AT.message + ciphertext.length);
  return true;
}
