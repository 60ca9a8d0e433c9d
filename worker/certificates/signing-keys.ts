/**
 * The Ed25519 keys the registry signs node certificates with, and the ones it still publishes.
 *
 * The current key's seed is CERT_SIGNING_KEY (32 bytes, base64) if the operator set it, and
 * otherwise derived from TOKEN_SECRET, so a deployment needs no new secret. CERT_SIGNING_KEY_PREVIOUS,
 * if set, is published but never signs: certificates issued before a rotation keep verifying until
 * they expire. Rotation is described in docs/registry.md.
 */
import { decodeBase64, encodeBase64, formatKeyId, KEY_ID_BYTES, type RegistryKey } from "@pilot/protocol";
import { derivedKey } from "../auth/server-secret.ts";
import { ApiError } from "../errors.ts";

/** The certificate secrets are optional, so the generated Env does not list them. */
type CertificateSecrets = { CERT_SIGNING_KEY?: string; CERT_SIGNING_KEY_PREVIOUS?: string };

export interface SigningKey {
  keyId: Uint8Array;
  publicKey: Uint8Array;
  privateKey: CryptoKey;
}

/** PKCS#8 DER of an Ed25519 private key is this prefix and the 32-byte seed: WebCrypto imports no raw private keys. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** Imported keys per seed: every certificate needs one, and the secrets rarely change. */
const cache = new Map<string, Promise<SigningKey>>();

/** The key that signs new certificates. */
export async function currentSigningKey(env: Env): Promise<SigningKey> {
  const configured = (env as Env & CertificateSecrets).CERT_SIGNING_KEY;
  return configured ? fromSecret(configured, "CERT_SIGNING_KEY") : signingKey(await derivedKey(env, "certificate-signing"));
}

/** Every key a certificate may be signed by: the current one first, then the previous one, if set. */
export async function publishedKeys(env: Env): Promise<RegistryKey[]> {
  const keys = [{ key: await currentSigningKey(env), current: true }];
  const text = (env as Env & CertificateSecrets).CERT_SIGNING_KEY_PREVIOUS;
  const previous = text ? await fromSecret(text, "CERT_SIGNING_KEY_PREVIOUS") : undefined;
  // Set to the current key (a rotation's first step, before the new key is put in), it is listed once.
  if (previous && formatKeyId(previous.keyId) !== formatKeyId(keys[0]!.key.keyId)) keys.push({ key: previous, current: false });
  return keys.map(({ key, current }) => ({ key_id: formatKeyId(key.keyId), public_key: encodeBase64(key.publicKey), current }));
}

function fromSecret(text: string, name: string): Promise<SigningKey> {
  const seed = decodeBase64(text.trim(), 32);
  if (!seed) {
    throw new ApiError(503, "server_misconfigured", `${name} is not a 32-byte Ed25519 seed in base64; its operator must fix it with: wrangler secret put ${name}`);
  }
  return signingKey(seed);
}

function signingKey(seed: Uint8Array): Promise<SigningKey> {
  const id = encodeBase64(seed);
  let key = cache.get(id);
  if (!key) {
    key = importSeed(seed);
    if (cache.size > 8) cache.clear();
    cache.set(id, key);
  }
  return key;
}

async function importSeed(seed: Uint8Array): Promise<SigningKey> {
  const pkcs8 = new Uint8Array(PKCS8_ED25519_PREFIX.length + seed.length);
  pkcs8.set(PKCS8_ED25519_PREFIX, 0);
  pkcs8.set(seed, PKCS8_ED25519_PREFIX.length);
  const extractable = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const { x } = (await crypto.subtle.exportKey("jwk", extractable)) as JsonWebKey;
  // The JWK's x is the public key in unpadded base64url.
  const publicKey = decodeBase64(`${x!.replace(/-/g, "+").replace(/_/g, "/")}=`, 32)!;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey));
  // Signing needs no way back to the seed.
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  return { keyId: digest.slice(0, KEY_ID_BYTES), publicKey, privateKey };
}
