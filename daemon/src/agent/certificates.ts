/**
 * The node's certificates (docs/daemon.md, "Node certificates"): this node's own, fetched after
 * registration and renewed at half-life, which its key exchanges carry; and the registry's signing
 * keys, which check the certificates peers carry.
 *
 * The keys are fetched once and kept in the Pilot home. They are fetched again when a certificate
 * names a key this node does not know (the registry rotated its key), and every hour (so a key the
 * registry withdrew stops being trusted), never more than once a minute: strangers' certificates
 * cannot make the daemon hammer the registry.
 */
import { formatKeyId, MAX_CERTIFICATE_LIFETIME_SECONDS, parseCertificate, type RegistryKey } from "@pilot/protocol";
import { CERTIFICATE_CLOCK_SKEW_MS, fitsSender, keyring, verifyCertificate, type Keyring } from "../crypto/certificate.ts";
import { isGone, type RegistryClient } from "../registry-client.ts";
import { loadRegistryKeys, saveRegistryKeys } from "../store/registry-keys-file.ts";

/** The keys are not fetched more often than this, whatever prompts it. */
const KEYS_MIN_INTERVAL_MS = 60_000;
/** The keys are fetched this often anyway, so a key the registry withdrew is forgotten. */
const KEYS_REFRESH_MS = 60 * 60_000;
/** A renewal that failed is tried again this much later (or at half the time left, if sooner). */
const RENEW_RETRY_MS = 30_000;

export interface CertificatesOptions {
  registry: Pick<RegistryClient, "registryKeys" | "certificate">;
  /** The registry's origin: kept keys are good for that registry only. */
  registryOrigin: string;
  /** Where the keys are kept (registry-keys.json). */
  keysPath: string;
  /** This node's identity key at start: a certificate issued for any other is not used. */
  publicKey: Buffer;
  me: () => number;
  log: (line: string) => void;
  /** Wall clock (certificates carry Unix times) and monotonic clock (the fetch bound); for tests. */
  now?: () => number;
  monotonic?: () => number;
}

export class NodeCertificates {
  readonly #o: CertificatesOptions;
  readonly #now: () => number;
  readonly #monotonic: () => number;
  #keys: Keyring = new Map();
  #keysFetch: Promise<void> | undefined;
  #keysFetchedAt = -Infinity;
  /** This node's identity key now (a rotation changes it). */
  #publicKey: Buffer;
  #own: { bytes: Buffer; nodeId: number; expiresAt: number } | undefined;
  /**
   * Peers that moved to a new identity key: the key and when the registry made the change (its
   * clock, as certificates carry it). A certificate of theirs issued until then, or for another key,
   * is not taken: it may be the old key's, which whoever held that key could still present.
   */
  readonly #rotated = new Map<number, { key: Buffer; at: number }>();
  #renewing: Promise<void> | undefined;
  #renewal: ReturnType<typeof setTimeout> | undefined;
  #refresh: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  /** Reads the kept keys; a file that is insecure (another user's, a link) throws, like any in the home. */
  constructor(options: CertificatesOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#publicKey = options.publicKey;
    const kept = loadRegistryKeys(options.keysPath, options.registryOrigin);
    const ring = "keys" in kept ? keyring(kept.keys) : null;
    if (ring) this.#keys = ring;
    else options.log(`the registry's certificate keys will be fetched: ${"missing" in kept ? kept.missing : "the kept ones do not match their ids"}`);
  }

  /** Fetches the keys if none are kept, and keeps them fresh from now on. */
  async start(): Promise<void> {
    this.#refresh = setInterval(() => void this.refreshKeys(), KEYS_REFRESH_MS);
    this.#refresh.unref();
    if (this.#keys.size === 0) await this.#fetchKeys();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#refresh);
    clearTimeout(this.#renewal);
  }

  /**
   * Fetches the keys again (hourly, so a key the registry withdrew stops being trusted), unless they
   * were fetched in the last minute.
   */
  refreshKeys(): Promise<void> {
    return this.#fetchKeys();
  }

  /** The registry's signing keys this node trusts, by id. */
  get keys(): Keyring {
    return this.#keys;
  }

  /** This node's certificate, while it is valid and for this node's current ID; null otherwise. */
  own(): Buffer | null {
    const own = this.#own;
    return own && own.nodeId === this.#o.me() && this.#now() < own.expiresAt ? own.bytes : null;
  }

  /** Fetches this node's certificate now (after each registration) and renews it at half-life from then on. Never throws. */
  renew(): Promise<void> {
    this.#renewing ??= this.#renew().finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  /**
   * This node moved to a new identity key: the certificate it holds names the old one and goes, and
   * a new one is fetched (after any renewal under way, which asked with a token now revoked).
   */
  async rekey(publicKey: Buffer): Promise<void> {
    this.#publicKey = publicKey;
    this.#own = undefined;
    await this.#renewing;
    await this.renew();
  }

  /**
   * A peer moved to the identity key `key` at `at` (the registry's time): from now on only its
   * certificates for that key, issued after that, are taken. Remembered until every certificate
   * issued before it has expired.
   */
  rotated(peer: number, key: Buffer, at: number): void {
    const now = this.#now();
    for (const [p, r] of this.#rotated) if (now > r.at + MAX_CERTIFICATE_LIFETIME_SECONDS * 1000 + CERTIFICATE_CLOCK_SKEW_MS) this.#rotated.delete(p);
    const known = this.#rotated.get(peer);
    if (!known || known.at < at) this.#rotated.set(peer, { key, at });
  }

  /**
   * The identity key a peer's certificate vouches for: null unless it is well-formed, for `sender`,
   * unexpired, signed by a registry key, and (for a peer that moved to a new key) for that key and
   * issued after the move. A certificate signed by a key this node does not know fetches the keys
   * again first (at most once a minute).
   */
  async vouchedKey(certificate: Buffer, sender: number): Promise<Buffer | null> {
    const cert = parseCertificate(certificate);
    if (!cert || !fitsSender(cert, sender, this.#now())) return null;
    const rotation = this.#rotated.get(sender);
    if (rotation && (cert.issuedAt <= rotation.at || !rotation.key.equals(cert.publicKey))) return null;
    if (!this.#keys.has(formatKeyId(cert.keyId))) {
      // Only the certificate that starts a fetch waits for it: a flood of others holds nothing meanwhile.
      if (this.#keysFetch) return null;
      await this.#fetchKeys();
    }
    return verifyCertificate(certificate, { keys: this.#keys, now: this.#now(), sender })?.publicKey ?? null;
  }

  async #renew(): Promise<void> {
    clearTimeout(this.#renewal);
    let retryIn = RENEW_RETRY_MS;
    try {
      const issued = await this.#o.registry.certificate();
      const bytes = Buffer.from(issued.certificate, "base64");
      const cert = parseCertificate(bytes)!;
      if (cert.nodeId !== this.#o.me() || !this.#publicKey.equals(cert.publicKey)) {
        this.#o.log(`the registry issued a certificate for node ${cert.nodeId} and another key; not using it`);
      } else {
        this.#own = { bytes, nodeId: cert.nodeId, expiresAt: cert.expiresAt };
        // Our own certificate names a key we do not know: the registry rotated, and peers' will too.
        if (!this.#keys.has(issued.key_id)) await this.#fetchKeys();
        // Half the lifetime by the registry's own clock, whatever ours says.
        retryIn = (cert.expiresAt - cert.issuedAt) / 2;
      }
    } catch (e) {
      // A node the registry no longer knows registers again, and that renews.
      if (isGone(e)) return;
      this.#o.log(`cannot renew this node's certificate: ${e instanceof Error ? e.message : String(e)}`);
      const left = this.#own ? this.#own.expiresAt - this.#now() : 0;
      if (left > 0) retryIn = Math.min(retryIn, left / 2);
    }
    if (this.#stopped) return;
    this.#renewal = setTimeout(() => void this.renew(), retryIn);
    this.#renewal.unref();
  }

  /** One fetch at a time, and none within a minute of the last. Keeps the keys held if it fails. */
  #fetchKeys(): Promise<void> {
    if (this.#keysFetch) return this.#keysFetch;
    if (this.#monotonic() - this.#keysFetchedAt < KEYS_MIN_INTERVAL_MS || this.#stopped) return Promise.resolve();
    this.#keysFetchedAt = this.#monotonic();
    this.#keysFetch = this.#o.registry
      .registryKeys()
      .then((keys) => this.#adopt(keys))
      .catch((e: unknown) => this.#o.log(`cannot fetch the registry's certificate keys: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (this.#keysFetch = undefined));
    return this.#keysFetch;
  }

  #adopt(keys: RegistryKey[]): void {
    const ring = keyring(keys);
    if (!ring) return this.#o.log("the registry's certificate keys do not match their ids; keeping the ones held");
    this.#keys = ring;
    saveRegistryKeys(this.#o.keysPath, this.#o.registryOrigin, keys);
  }
}
