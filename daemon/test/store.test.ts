import { chmodSync, chownSync, constants, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PilotError } from "../src/errors.ts";
import { checkHome, ensureHome, homePaths, openOwned } from "../src/store/home.ts";
import { loadConfig, withFlags, writeConfig } from "../src/store/config-file.ts";
import { loadOrCreateIdentity } from "../src/store/identity-file.ts";
import { TrustStore } from "../src/store/trust-file.ts";

const freshHome = () => {
  const paths = homePaths(join(mkdtempSync(join(tmpdir(), "pilot-store-")), "home"));
  ensureHome(paths.dir);
  return paths;
};

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PilotError);
    return e as PilotError;
  }
  throw new Error("expected a PilotError");
};

describe("identity.json", () => {
  it("is made once, private (0600 in a 0700 directory), and loads back to the same key", () => {
    const paths = freshHome();
    const first = loadOrCreateIdentity(paths.identity);
    expect(first.created).toBe(true);
    expect(statSync(paths.identity).mode & 0o777).toBe(0o600);
    expect(statSync(paths.dir).mode & 0o777).toBe(0o700);
    const again = loadOrCreateIdentity(paths.identity);
    expect(again.created).toBe(false);
    expect(again.identity.publicKey).toBe(first.identity.publicKey);
  });

  it.each([
    ["not JSON", () => "{ this is not json"],
    ["missing fields", () => JSON.stringify({ version: 1 })],
    ["a bad private key", () => JSON.stringify({ version: 1, private_key: "short", public_key: "x" })],
    ["a public key that does not match", (text: string) => JSON.stringify({ ...JSON.parse(text), public_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" })],
    ["an unknown version", (text: string) => JSON.stringify({ ...JSON.parse(text), version: 2 })],
  ])("refuses a file with %s, and never replaces it", (_, mangle) => {
    const paths = freshHome();
    loadOrCreateIdentity(paths.identity);
    const bad = mangle(readFileSync(paths.identity, "utf8"));
    writeFileSync(paths.identity, bad, { mode: 0o600 });
    const err = failure(() => loadOrCreateIdentity(paths.identity));
    expect(err.code).toBe("corrupt_file");
    expect(err.hint).toMatch(/backup/);
    expect(readFileSync(paths.identity, "utf8")).toBe(bad);
  });

  it("refuses a file others can read", () => {
    const paths = freshHome();
    loadOrCreateIdentity(paths.identity);
    chmodSync(paths.identity, 0o644);
    const err = failure(() => loadOrCreateIdentity(paths.identity));
    expect(err.code).toBe("insecure_file");
    expect(err.hint).toContain("chmod 600");
  });
});

describe("trust.json", () => {
  it("is written atomically, privately, and survives a reload", () => {
    const paths = freshHome();
    const store = new TrustStore(paths.trust);
    store.update((s) => s.trusted.push({ node_id: 7, mutual: true, network: 0, approved_at: "2026-11-22T00:00:00.000Z", expires_at: null }));
    expect(statSync(paths.trust).mode & 0o777).toBe(0o600);
    expect(new TrustStore(paths.trust).trusts(7)).toBe(true);
  });

  it("refuses a corrupt file instead of forgetting the trust in it", () => {
    const paths = freshHome();
    writeFileSync(paths.trust, JSON.stringify({ version: 1, trusted: [{ node_id: "seven" }], pending: [], outgoing: [] }));
    expect(failure(() => new TrustStore(paths.trust)).code).toBe("corrupt_file");
  });
});

describe("config.json", () => {
  it("remembers flags once written, and refuses bad ones with the flag's name, writing nothing", () => {
    const paths = freshHome();
    const config = withFlags(paths.config, { registry: "http://registry.test", hostname: "my-agent", public: true });
    expect(config).toMatchObject({ registry: "http://registry.test", hostname: "my-agent", public: true, stun: "stun.cloudflare.com:3478,stun.cloudflare.com:53" });
    expect(loadConfig(paths.config).hostname).toBeNull();
    writeConfig(paths, config);
    expect(withFlags(paths.config, {})).toMatchObject({ hostname: "my-agent", public: true });
    expect(withFlags(paths.config, { private: true }).public).toBe(false);
    const saved = readFileSync(paths.config, "utf8");
    for (const bad of [{ registry: "not a url" }, { hostname: "Bad Name" }, { enroll: "pek_short" }, { listen: "nowhere" }, { stun: "stun.example" }]) {
      const err = failure(() => withFlags(paths.config, bad));
      expect(err.code).toBe("invalid_argument");
      expect(err.message).toMatch(/^--/);
    }
    expect(readFileSync(paths.config, "utf8")).toBe(saved);
  });

  it("makes a missing home only when the settings are written", () => {
    const paths = homePaths(join(mkdtempSync(join(tmpdir(), "pilot-store-")), "home"));
    checkHome(paths.dir);
    expect(existsSync(paths.dir)).toBe(false);
    withFlags(paths.config, { registry: "http://registry.test" });
    expect(existsSync(paths.dir)).toBe(false);
    writeConfig(paths, withFlags(paths.config, { registry: "http://registry.test" }));
    expect(loadConfig(paths.config).registry).toBe("http://registry.test");
  });
});

describe("a home in a shared directory", () => {
  // Giving a file to another user takes root; these machines and CI run the tests as root.
  const root = process.getuid?.() === 0;

  it("refuses a home others can write, or that is a link to one or to a file, with the fix in the hint", () => {
    const paths = freshHome();
    chmodSync(paths.dir, 0o777);
    expect(failure(() => ensureHome(paths.dir))).toMatchObject({ code: "insecure_file", hint: `run: chmod go-w ${paths.dir}` });
    // The check that makes nothing refuses it alike, for a command that has not checked its arguments yet.
    expect(failure(() => checkHome(paths.dir))).toMatchObject({ code: "insecure_file", hint: `run: chmod go-w ${paths.dir}` });
    // A link of the user's own to a directory of its own is fine (a dotfile manager's, say)…
    const link = `${paths.dir}-link`;
    symlinkSync(paths.dir, link);
    expect(failure(() => ensureHome(link))).toMatchObject({ code: "insecure_file" });
    chmodSync(paths.dir, 0o700);
    ensureHome(link);
    // …a link to a file is not a home.
    const fileLink = `${paths.dir}-file-link`;
    writeFileSync(`${paths.dir}-file`, "");
    symlinkSync(`${paths.dir}-file`, fileLink);
    expect(failure(() => ensureHome(fileLink))).toMatchObject({ code: "insecure_file", message: expect.stringMatching(/not a directory/) });
    // …nor is a link to nothing: it is refused with the same code, not made through.
    const dangling = `${paths.dir}-dangling`;
    symlinkSync(`${paths.dir}-gone`, dangling);
    for (const check of [checkHome, ensureHome]) expect(failure(() => check(dangling))).toMatchObject({ code: "insecure_file", message: expect.stringMatching(/not a directory/) });
  });

  it("never adopts an identity or config planted as a symbolic link, nor follows a planted log link", () => {
    const paths = freshHome();
    const elsewhere = join(paths.dir, "..", "elsewhere.json");
    writeFileSync(elsewhere, JSON.stringify({ public: true }), { mode: 0o600 });
    symlinkSync(elsewhere, paths.config);
    expect(failure(() => loadConfig(paths.config))).toMatchObject({ code: "insecure_file", message: expect.stringMatching(/symbolic link/) });
    symlinkSync(elsewhere, paths.identity);
    expect(failure(() => loadOrCreateIdentity(paths.identity))).toMatchObject({ code: "insecure_file" });
    symlinkSync(elsewhere, paths.log);
    expect(failure(() => openOwned(paths.log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, "the log"))).toMatchObject({ code: "insecure_file" });
    expect(readFileSync(elsewhere, "utf8")).toBe(JSON.stringify({ public: true }));
  });

  it.runIf(root)("refuses a home, identity or config that another user made", () => {
    const paths = freshHome();
    loadOrCreateIdentity(paths.identity);
    writeFileSync(paths.config, JSON.stringify({ public: true }), { mode: 0o600 });
    chownSync(paths.config, 65534, 65534);
    expect(failure(() => loadConfig(paths.config))).toMatchObject({ code: "insecure_file", message: expect.stringMatching(/another user/) });
    chownSync(paths.identity, 65534, 65534);
    expect(failure(() => loadOrCreateIdentity(paths.identity))).toMatchObject({ code: "insecure_file" });
    chownSync(paths.dir, 65534, 65534);
    expect(failure(() => ensureHome(paths.dir))).toMatchObject({ code: "insecure_file", hint: expect.stringMatching(/PILOT_HOME of your own/) });
  });
});
