/**
 * A node's Ed25519 identity key pair. The private key never leaves this object except through
 * `exportSeed`, for the identity file (store/identity-file.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export class Identity {
  readonly publicKey: string;
  readonly #privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    const jwk = createPublicKey(privateKey).export({ format: "jwk" });
    this.publicKey = Buffer.from(jwk.x!, "base64url").toString("base64");
  }

  static generate(): Identity {
    return new Identity(generateKeyPairSync("ed25519").privateKey);
  }

  static fromSeed(seed: Uint8Array): Identity {
    if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
    return new Identity(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" }));
  }

  exportSeed(): Uint8Array {
    return new Uint8Array(this.#privateKey.export({ format: "der", type: "pkcs8" }).subarray(PKCS8_ED25519_PREFIX.length));
  }

  /** Signs `message`; returns the signature in standard base64. */
  sign(message: Uint8Array): string {
    return sign(null, message, this.#privateKey).toString("base64");
  }
}
