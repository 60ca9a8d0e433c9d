import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hashPassword } from "../worker/accounts/password.ts";
import { awaitFreshRateWindow, call, asPerson, errorOf, freshIp, makeIdentity, ORIGIN, proof, register, sessionCookie, signUp } from "./helpers.ts";

const PASSWORD = "correct horse battery";

describe("sign-up and sign-in", () => {
  it("creates an account, stores only a slow salted hash, and starts a session", async () => {
    const email = `Alice-${crypto.randomUUID().slice(0, 6)}@Example.com`;
    const res = await call("/v1/accounts", { body: { email, password: PASSWORD }, ip: freshIp() });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { account: { email: string; plan: object }; csrf_token: string };
    expect(body.account.email).toBe(email.toLowerCase());
    expect(body.account.plan).toEqual({ plan: "free", max_networks: 1, max_members: 5, networks: 0 });
    expect(body.csrf_token).toMatch(/^csrf_/);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).toMatch(/Secure/);
    const row = await env.DB.prepare("SELECT password_hash FROM accounts WHERE email = ?").bind(email.toLowerCase()).first<{ password_hash: string }>();
    expect(row!.password_hash).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(row!.password_hash).not.toContain(PASSWORD);
  });

  it("leaves Secure off the cookie only on localhost", async () => {
    const res = await exports.default.fetch(
      new Request("http://localhost:8787/v1/accounts", {
        method: "POST",
        headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() },
        body: JSON.stringify({ email: `local-${crypto.randomUUID()}@example.com`, password: PASSWORD }),
      }),
    );
    expect(res.status).toBe(201);
    expect(res.headers.get("set-cookie")).not.toMatch(/Secure/);
  });

  it("refuses a second account for the same email, in any case", async () => {
    const p = await signUp();
    const res = await call("/v1/accounts", { body: { email: p.email.toUpperCase(), password: PASSWORD }, ip: freshIp() });
    expect(await errorOf(res)).toMatchObject({ status: 409, code: "email_taken" });
  });

  it.each([
    ["a bad email", { email: "not-an-email", password: PASSWORD }],
    ["a short password", { email: "a@example.com", password: "short" }],
    ["a huge password", { email: "a@example.com", password: "x".repeat(300) }],
    ["an extra field", { email: "a@example.com", password: PASSWORD, plan: "pro" }],
    ["no password", { email: "a@example.com" }],
  ])("refuses sign-up with %s", async (_, body) => {
    const res = await call("/v1/accounts", { body, ip: freshIp() });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("signs in with a password an earlier sign-up took that is ten UTF-16 units but fewer characters", async () => {
    const p = await signUp();
    // Five emoji: ten UTF-16 units, which sign-up once counted, five characters, which it counts now.
    const old = "😀😀😀😀😀";
    await env.DB.prepare("UPDATE accounts SET password_hash = ? WHERE id = ?").bind(await hashPassword(old), p.accountId).run();
    expect((await call("/v1/sessions", { body: { email: p.email, password: old }, ip: freshIp() })).status).toBe(200);
    expect((await call("/v1/sessions", { body: { email: p.email, password: "😀" }, ip: freshIp() })).status).toBe(401);
  });

  it("signs in with the right password, and answers a wrong password and an unknown email alike", async () => {
    const p = await signUp();
    const ok = await call("/v1/sessions", { body: { email: p.email, password: PASSWORD }, ip: freshIp() });
    expect(ok.status).toBe(200);
    const session = await call("/v1/session", { headers: { cookie: sessionCookie(ok) } });
    expect(((await session.json()) as { account: { email: string } }).account.email).toBe(p.email);

    const wrong = await call("/v1/sessions", { body: { email: p.email, password: "wrong password!" }, ip: freshIp() });
    const unknown = await call("/v1/sessions", { body: { email: "nobody@example.com", password: PASSWORD }, ip: freshIp() });
    const [a, b] = [await wrong.text(), await unknown.text()];
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(a).toBe(b);
    expect(JSON.parse(a).error.code).toBe("invalid_credentials");
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("rate-limits password guessing per client address", { timeout: 30_000 }, async () => {
    const p = await signUp();
    const ip = freshIp();
    await awaitFreshRateWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) {
      statuses.push((await call("/v1/sessions", { body: { email: p.email, password: `guess-number-${i}` }, ip })).status);
    }
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(30)).toEqual([429, 429]);
  });
});

describe("sessions", () => {
  it("are refused when missing, tampered with or forged", async () => {
    const p = await signUp();
    expect(await errorOf(await call("/v1/session"))).toMatchObject({ status: 401, code: "unauthenticated" });
    const [name, value] = p.cookie.split("=");
    const flipped = value!.slice(0, 5) + (value![5] === "A" ? "B" : "A") + value!.slice(6);
    expect(await errorOf(await call("/v1/session", { headers: { cookie: `${name}=${flipped}` } }))).toMatchObject({ status: 401 });
    expect(await errorOf(await call("/v1/session", { headers: { cookie: `${name}=ses_forged` } }))).toMatchObject({ status: 401 });
  });

  it("end on sign-out, server-side: the old cookie stops working", async () => {
    const p = await signUp();
    expect((await asPerson(p, "/v1/session", { method: "DELETE" })).status).toBe(204);
    expect(await errorOf(await call("/v1/session", { headers: { cookie: p.cookie } }))).toMatchObject({ status: 401, code: "unauthenticated" });
  });

  it("must pass the CSRF check to change anything, but not to read", async () => {
    const p = await signUp();
    const create = (headers: Record<string, string>) => call("/v1/account/tokens", { body: { name: "ci" }, headers: { cookie: p.cookie, ...headers } });
    expect(await errorOf(await create({}))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect(await errorOf(await create({ "x-csrf-token": "csrf_wrong" }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect(await errorOf(await create({ "x-csrf-token": p.csrf, origin: "https://evil.example" }))).toMatchObject({ status: 403, code: "csrf_failed" });
    const other = await signUp();
    expect(await errorOf(await create({ "x-csrf-token": other.csrf }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect((await call("/v1/account/tokens", { headers: { cookie: p.cookie } })).status).toBe(200);
    const none = (await (await call("/v1/account/tokens", { headers: { cookie: p.cookie } })).json()) as { tokens: unknown[] };
    expect(none.tokens).toHaveLength(0);
    expect((await create({ "x-csrf-token": p.csrf, origin: ORIGIN })).status).toBe(201);
    expect((await create({ "x-csrf-token": p.csrf })).status).toBe(201);
  });
});

describe("API tokens", () => {
  it("are shown once, stored hashed, work as bearer tokens and stop when revoked", async () => {
    const p = await signUp();
    const res = await asPerson(p, "/v1/account/tokens", { body: { name: "deploy bot" } });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: number; token: string; name: string };
    expect(created.token).toMatch(/^pat_[A-Za-z0-9_-]{43}$/);
    const stored = await env.DB.prepare("SELECT token_hash FROM api_tokens WHERE id = ?").bind(created.id).first<{ token_hash: string }>();
    expect(stored!.token_hash).toMatch(/^[0-9a-f]{64}$/);

    const list = (await (await asPerson(p, "/v1/account/tokens")).json()) as { tokens: object[] };
    expect(JSON.stringify(list)).not.toContain(created.token);
    expect(list.tokens).toEqual([expect.objectContaining({ id: created.id, name: "deploy bot", revoked_at: null })]);

    const me = await call("/v1/account", { headers: { authorization: `Bearer ${created.token}` } });
    expect(((await me.json()) as { email: string }).email).toBe(p.email);
    // API tokens need no CSRF token: they are not sent by browsers on their own.
    expect((await call("/v1/account/tokens", { body: { name: "second" }, headers: { authorization: `Bearer ${created.token}` } })).status).toBe(201);

    expect((await asPerson(p, `/v1/account/tokens/${created.id}`, { method: "DELETE" })).status).toBe(200);
    expect(await errorOf(await call("/v1/account", { headers: { authorization: `Bearer ${created.token}` } }))).toMatchObject({ status: 401, code: "unauthenticated" });
    expect(await errorOf(await asPerson(p, `/v1/account/tokens/${created.id}`, { method: "DELETE" }))).toMatchObject({ status: 404 });
  });

  it("cannot be revoked by another account", async () => {
    const p = await signUp();
    const q = await signUp();
    const created = (await (await asPerson(p, "/v1/account/tokens", { body: { name: "mine" } })).json()) as { id: number; token: string };
    expect(await errorOf(await asPerson(q, `/v1/account/tokens/${created.id}`, { method: "DELETE" }))).toMatchObject({ status: 404 });
    expect((await call("/v1/account", { headers: { authorization: `Bearer ${created.token}` } })).status).toBe(200);
  });

  it.each([["Bearer pat_short"], ["Bearer " + "pat_" + "A".repeat(43)], ["Basic abc"], ["Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"]])(
    "refuse %j",
    async (authorization) => {
      expect(await errorOf(await call("/v1/account", { headers: { authorization } }))).toMatchObject({ status: 401, code: "unauthenticated" });
    },
  );

  it("refuse a node's access token on account routes", async () => {
    const n = await register();
    expect(await errorOf(await call("/v1/account", { token: n.token }))).toMatchObject({ status: 401, code: "unauthenticated" });
  });

  it.each([["an empty name", { name: "" }], ["a long name", { name: "x".repeat(101) }], ["no name", {}], ["an id", { name: "a", id: 5 }]])(
    "refuse creation with %s",
    async (_, body) => {
      const p = await signUp();
      expect(await errorOf(await asPerson(p, "/v1/account/tokens", { body }))).toMatchObject({ status: 400, code: "invalid_request" });
    },
  );

  it("refuse a bad token ID", async () => {
    const p = await signUp();
    for (const id of ["abc", "0", "-1", "1e3", "99999999999999999999"]) {
      expect((await asPerson(p, `/v1/account/tokens/${id}`, { method: "DELETE" })).status).toBe(400);
    }
  });
});

describe("enrollment keys", () => {
  const enroll = async (key: string, identity?: Awaited<ReturnType<typeof makeIdentity>>) => {
    const id = identity ?? (await makeIdentity());
    return { id, res: await call("/v1/nodes", { body: { ...(await proof(id, "register")), enrollment_key: key }, ip: freshIp() }) };
  };
  const ownerOf = async (nodeId: number) =>
    (await env.DB.prepare("SELECT owner_account_id AS o FROM nodes WHERE id = ?").bind(nodeId).first<{ o: number | null }>())!.o;
  const nodeCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM nodes").first<{ n: number }>())!.n;

  it("make a registering node the account's, once for a single-use key", async () => {
    const p = await signUp();
    const res = await asPerson(p, "/v1/account/enrollment-keys", { body: { description: "laptop" } });
    expect(res.status).toBe(201);
    const key = (await res.json()) as { id: number; key: string; reusable: boolean; max_uses: number; uses: number };
    expect(key).toMatchObject({ reusable: false, max_uses: 1, uses: 0 });
    expect(key.key).toMatch(/^pek_/);

    const first = await enroll(key.key);
    expect(first.res.status).toBe(201);
    const node = ((await first.res.json()) as { node: { node_id: number } }).node;
    expect(await ownerOf(node.node_id)).toBe(p.accountId);

    const before = await nodeCount();
    const second = await enroll(key.key);
    expect(await errorOf(second.res)).toMatchObject({ status: 403, code: "enrollment_key_invalid" });
    expect(await nodeCount()).toBe(before);
    // The refused node's challenge was not spent: it can still register without the key.
    const list = (await (await asPerson(p, "/v1/account/enrollment-keys")).json()) as { keys: { uses: number }[] };
    expect(list.keys[0]!.uses).toBe(1);
    expect(JSON.stringify(list)).not.toContain(key.key);
    // The enrolled node restarting with its key changes nothing and spends nothing.
    const again = await enroll(key.key, first.id);
    expect(again.res.status).toBe(200);
  });

  it("of a single use are spent once even when many nodes race for them", async () => {
    const p = await signUp();
    const { key } = (await (await asPerson(p, "/v1/account/enrollment-keys", { body: { description: "race" } })).json()) as { key: string };
    const results = await Promise.all(Array.from({ length: 6 }, () => enroll(key)));
    expect(results.filter((r) => r.res.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.res.status === 403)).toHaveLength(5);
  });

  it("that are reusable stop at their usage limit, and at expiry, and when revoked", async () => {
    const p = await signUp();
    const make = async (body: object) =>
      (await (await asPerson(p, "/v1/account/enrollment-keys", { body: { description: "fleet", reusable: true, ...body } })).json()) as {
        id: number;
        key: string;
      };
    const limited = await make({ max_uses: 2 });
    expect((await enroll(limited.key)).res.status).toBe(201);
    expect((await enroll(limited.key)).res.status).toBe(201);
    expect((await enroll(limited.key)).res.status).toBe(403);

    const expiring = await make({ expires_in_seconds: 3600 });
    expect((await enroll(expiring.key)).res.status).toBe(201);
    await env.DB.prepare("UPDATE enrollment_keys SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, expiring.id).run();
    expect(await errorOf((await enroll(expiring.key)).res)).toMatchObject({ code: "enrollment_key_invalid" });

    const revoked = await make({});
    expect((await asPerson(p, `/v1/account/enrollment-keys/${revoked.id}`, { method: "DELETE" })).status).toBe(200);
    expect(await errorOf((await enroll(revoked.key)).res)).toMatchObject({ code: "enrollment_key_invalid" });
  });

  it("re-own an already registered node, which keeps its node ID", async () => {
    const p = await signUp();
    const n = await register();
    const { key } = (await (await asPerson(p, "/v1/account/enrollment-keys", { body: { description: "adopt" } })).json()) as { key: string };
    const { res } = await enroll(key, n);
    expect(res.status).toBe(200);
    expect(await ownerOf(n.nodeId)).toBe(p.accountId);
  });

  it.each([
    ["a malformed key", { description: "x" }, "pek_short"],
    ["an unknown key", { description: "x" }, "pek_" + "B".repeat(43)],
  ])("refuse %s at registration", async (_, __, key) => {
    const { res } = await enroll(key);
    expect(res.status).toBe(key === "pek_short" ? 400 : 403);
  });

  it.each([
    ["no description", {}],
    ["a single-use key with max_uses 3", { description: "x", max_uses: 3 }],
    ["an expiry under a minute", { description: "x", expires_in_seconds: 5 }],
    ["a negative usage limit", { description: "x", reusable: true, max_uses: -1 }],
    ["a string for reusable", { description: "x", reusable: "yes" }],
  ])("refuse creation with %s", async (_, body) => {
    const p = await signUp();
    expect(await errorOf(await asPerson(p, "/v1/account/enrollment-keys", { body }))).toMatchObject({ status: 400, code: "invalid_request" });
  });
});
