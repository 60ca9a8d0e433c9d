/**
 * A node certificate worked out by hand, for every side to agree on: the registry's signer must
 * produce these bytes from these fields and this seed (Ed25519 signatures are deterministic), and
 * the daemon's verifier must accept them with this key.
 */
export const certificateVector = {
  /** The registry's signing key: seed bytes 1..32, base64. */
  registrySeed: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
  registryPublicKey: "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",
  /** The first 8 bytes of SHA-256 of the registry's public key. */
  keyId: "65b60673d6ed884b",
  nodeId: 1001,
  /** The node's identity key: the public half of seed bytes 0xa0..0xbf. */
  nodePublicKey: "T9CZzNR9eJPf6ewkQU7LDZtUICMqrTDZHEZb4zy+ZcQ=",
  issuedAt: 1_700_000_000_000,
  expiresAt: 1_700_000_600_000,
  certificate:
    "50494c4301000003e94fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4" +
    "0000018bcfe568000000018bcfee8fc065b60673d6ed884b" +
    "5b3c6f93d5f40c2e01222c67ce5be8521f17f856ff2d2f9c5e7c4f186cdf1ec17c08b8c191a368dc1859b68086822e9228a47dfa037cf8928df2d3a8ccf4310b",
} as const;
