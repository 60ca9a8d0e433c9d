import { describe, expect, it } from "vitest";
import {
  CERTIFICATE_BYTES,
  CERTIFICATE_CONTEXT,
  CertificateText,
  certificateBody,
  certificateSigningInput,
  decodeBase64,
  encodeBase64,
  encodeCertificate,
  formatKeyId,
  parseCertificate,
} from "../src/index.ts";
import { certificateVector as v } from "./certificate-vectors.ts";

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
const vector = fromHex(v.certificate);
const fields = { nodeId: v.nodeId, publicKey: decodeBase64(v.nodePublicKey, 32)!, issuedAt: v.issuedAt, expiresAt: v.expiresAt, keyId: fromHex(v.keyId) };

/** The vector with `edit` applied to a copy of its bytes. */
function edited(edit: (b: Uint8Array, view: DataView) => void): Uint8Array {
  const copy = vector.slice();
  edit(copy, new DataView(copy.buffer));
  return copy;
}

describe("node certificates", () => {
  it("read the worked vector's fields", () => {
    const cert = parseCertificate(vector)!;
    expect(cert).toMatchObject({ nodeId: v.nodeId, issuedAt: v.issuedAt, expiresAt: v.expiresAt });
    expect(encodeBase64(cert.publicKey)).toBe(v.nodePublicKey);
    expect(formatKeyId(cert.keyId)).toBe(v.keyId);
    expect(cert.signed).toEqual(vector.subarray(0, 65));
    expect(cert.signature).toEqual(vector.subarray(65));
  });

  it("are written byte for byte as the vector, and signed over the context and the body", () => {
    const body = certificateBody(fields);
    expect(encodeCertificate(body, vector.subarray(65))).toEqual(vector);
    const input = certificateSigningInput(body);
    expect(new TextDecoder().decode(input.subarray(0, CERTIFICATE_CONTEXT.length))).toBe("pilot-node-cert-v1");
    expect(input.subarray(CERTIFICATE_CONTEXT.length)).toEqual(body);
  });

  it("refuse to be written with fields that do not fit", () => {
    expect(() => certificateBody({ ...fields, nodeId: 0 })).toThrow(RangeError);
    expect(() => certificateBody({ ...fields, nodeId: 2 ** 32 })).toThrow(RangeError);
    expect(() => certificateBody({ ...fields, expiresAt: fields.issuedAt - 1 })).toThrow(RangeError);
    expect(() => certificateBody({ ...fields, publicKey: new Uint8Array(31) })).toThrow(RangeError);
    expect(() => certificateBody({ ...fields, keyId: new Uint8Array(7) })).toThrow(RangeError);
    expect(() => encodeCertificate(certificateBody(fields), new Uint8Array(63))).toThrow(RangeError);
  });

  it.each([
    ["empty", new Uint8Array(0)],
    ["one byte short", vector.subarray(0, CERTIFICATE_BYTES - 1)],
    ["one byte long", Uint8Array.from([...vector, 0])],
    ["another magic", edited((b) => (b[3] = 0x54))],
    ["version 0", edited((b) => (b[4] = 0))],
    ["version 2", edited((b) => (b[4] = 2))],
    ["node ID 0", edited((_, view) => view.setUint32(5, 0))],
    ["an expiry before the issue", edited((_, view) => view.setBigUint64(49, BigInt(v.issuedAt - 1)))],
    ["an expiry past 2^53 ms", edited((_, view) => view.setBigUint64(49, 2n ** 53n))],
    ["all ones", new Uint8Array(CERTIFICATE_BYTES).fill(0xff)],
  ])("are malformed when %s", (_, bytes) => {
    expect(parseCertificate(bytes)).toBeNull();
  });

  it("parse whatever else, leaving the signature for the verifier", () => {
    const bent = edited((b) => (b[100] = b[100]! ^ 1));
    expect(parseCertificate(bent)?.signature).toEqual(bent.subarray(65));
  });

  it("travel as canonical base64 in the API, and nothing else passes", () => {
    expect(CertificateText.safeParse(encodeBase64(vector)).success).toBe(true);
    for (const bad of [encodeBase64(vector.subarray(1)), encodeBase64(edited((b) => (b[4] = 9))), `${encodeBase64(vector)}==`, `${encodeBase64(vector)}\n`, "", "x".repeat(300)]) {
      expect(CertificateText.safeParse(bad).success).toBe(false);
    }
  });
});
