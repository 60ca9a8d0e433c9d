/**
 * A registry signing key held by a test, which mints node certificates with whatever fields the test
 * wants (the real registry issues only honest ones), signed with the same Ed25519 as the registry's.
 */
import { certificateBody, certificateSigningInput, encodeCertificate } from "@pilot/protocol";
import { keyIdOf, type Keyring } from "../src/crypto/certificate.ts";
import { Identity } from "../src/identity.ts";

export const TEN_MINUTES = 600_000;

export class TestSigner {
  readonly #key: Identity;
  readonly publicKey: Buffer;
  readonly keyId: string;

  constructor(key = Identity.generate()) {
    this.#key = key;
    this.publicKey = Buffer.from(key.publicKey, "base64");
    this.keyId = keyIdOf(this.publicKey);
  }

  /** The keyring of a daemon that trusts this key (and `others`). */
  keyring(...others: TestSigner[]): Keyring {
    return new Map([this, ...others].map((s) => [s.keyId, s.publicKey]));
  }

  /** A certificate for `node`'s key, valid from `issuedAt` for ten minutes unless told otherwise; `keyId` may lie. */
  certify(nodeId: number, nodeKey: Buffer | string, options: { issuedAt?: number; expiresAt?: number; keyId?: string } = {}): Buffer {
    const issuedAt = options.issuedAt ?? Date.now();
    const body = certificateBody({
      nodeId,
      publicKey: typeof nodeKey === "string" ? Buffer.from(nodeKey, "base64") : nodeKey,
      issuedAt,
      expiresAt: options.expiresAt ?? issuedAt + TEN_MINUTES,
      keyId: Buffer.from(options.keyId ?? this.keyId, "hex"),
    });
    return Buffer.from(encodeCertificate(body, Buffer.from(this.#key.sign(certificateSigningInput(body)), "base64")));
  }
}
