import { verify, createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Identity } from "../src/identity.ts";
import { decodeBase64 } from "@pilot/protocol";

describe("identity keys", () => {
  it("are Ed25519 with a 32-byte public key in canonical base64", () => {
    const id = Identity.generate();
    expect(decodeBase64(id.publicKey, 32)).not.toBeNull();
    expect(Identity.generate().publicKey).not.toBe(id.publicKey);
  });

  it("make signatures that verify against the public key and no other message", () => {
    const id = Identity.generate();
    const message = new TextEncoder().encode("pilot");
    const signature = Buffer.from(id.sign(message), "base64");
    expect(signature).toHaveLength(64);
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(id.publicKey, "base64").toString("base64url") }, format: "jwk" });
    expect(verify(null, message, key, signature)).toBe(true);
    expect(verify(null, new TextEncoder().encode("pilots"), key, signature)).toBe(false);
  });

  it("round-trip through their seed", () => {
    const id = Identity.generate();
    const again = Identity.fromSeed(id.exportSeed());
    expect(again.publicKey).toBe(id.publicKey);
    expect(() => Identity.fromSeed(new Uint8Array(31))).toThrow(RangeError);
  });
});
