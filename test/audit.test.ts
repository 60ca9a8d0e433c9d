/**
 * Audit that outlives what it audits: a deleted network's trail stays its owner's to read, the
 * account's own trail records sign-ins and credentials without a secret in it, and entries end only
 * by age, swept in bounded batches.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AccountAuditPage, AuditPage, AuditUpdate } from "@pilot/protocol";
import { sweepOldAudit } from "../worker/audit-retention.ts";
import { database } from "../worker/db/client.ts";
import { addMember, asPerson, call, createNetwork, enrolledNode, errorOf, openChannel, ORIGIN, signUp, type Person } from "./helpers.ts";

const PASSWORD = "correct horse battery";

const trail = async (p: Person, networkId: number, query = "") => (await (await asPerson(p, `/v1/networks/${networkId}/audit${query}`)).json()) as AuditPage;
const accountTrail = async (p: Person, query = "") => (await (await asPerson(p, `/v1/account/audit${query}`)).json()) as AccountAuditPage;
const deleteNetwork = (p: Person, networkId: number) => asPerson(p, `/v1/networks/${networkId}`, { method: "DELETE" });
const signIn = (email: string, password: string, ip: string) => call("/v1/sessions", { body: { email, password }, ip });

describe("a deleted network's trail", () => {
  it("stays readable by the account that deleted it, ending with the deletion, and by nobody else", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { name: "short-lived" });
    const node = await enrolledNode(owner);
    await addMember(owner, net.network_id, node.nodeId);
    const before = await trail(owner, net.network_id);
    expect((await deleteNetwork(owner, net.network_id)).status).toBe(204);

    const after = await trail(owner, net.network_id);
    expect(after.entries.map((e) => e.action)).toEqual(["network_deleted", "member_added", "network_created"]);
    expect(after.entries[0]).toMatchObject({ actor: { type: "account", id: owner.accountId }, target_name: "short-lived" });
    expect(after.entries.slice(1)).toEqual(before.entries);
    // Paged like a live network's; a cursor past the end is an empty page, not a 404.
    const first = await trail(owner, net.network_id, "?limit=1");
    expect(first.entries.map((e) => e.action)).toEqual(["network_deleted"]);
    const last = after.entries.at(-1)!.id;
    expect(await trail(owner, net.network_id, `?cursor=${last}`)).toEqual({ entries: [], next_cursor: null });
    // The network itself is gone for its owner too.
    expect((await asPerson(owner, `/v1/networks/${net.network_id}`)).status).toBe(404);
  });

  it("is the owner's alone: another account gets byte for byte the answer for a network that never existed", async () => {
    const owner = await signUp();
    const gone = await createNetwork(owner);
    await deleteNetwork(owner, gone.network_id);
    const live = await createNetwork(owner);
    const stranger = await signUp();
    // The stranger has networks and a trail of its own: none of it opens the owner's.
    await createNetwork(stranger);
    const missing = await asPerson(stranger, "/v1/networks/65000/audit");
    const expected = { status: missing.status, body: await missing.text() };
    expect(expected.status).toBe(404);
    for (const id of [live.network_id, gone.network_id]) {
      for (const query of ["", "?limit=1", "?cursor=1"]) {
        const res = await asPerson(stranger, `/v1/networks/${id}/audit${query}`);
        expect({ status: res.status, body: await res.text() }).toEqual(expected);
      }
    }
  });

  it("refuses bad paging and network IDs with invalid_request, and anyone without an account with 401", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    for (const query of ["?cursor=x", "?cursor=-1", "?cursor=12345678901", "?limit=0", "?limit=501", "?limit=ten", "?limit=", "?network_id=1"]) {
      expect(await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/audit${query}`)), query).toMatchObject({ status: 400, code: "invalid_request" });
    }
    for (const id of ["0", "65536", "99999", "abc", "-1", "1.5"]) {
      expect(await errorOf(await asPerson(owner, `/v1/networks/${id}/audit`)), id).toMatchObject({ status: 400, code: "invalid_request" });
    }
    expect((await call(`/v1/networks/${net.network_id}/audit`)).status).toBe(401);
  });
});

describe("the account's trail", () => {
  it("records sign-up, sign-ins with their address, sign-out, credentials and networks, newest first", async () => {
    const owner = await signUp();
    const token = (await (await asPerson(owner, "/v1/account/tokens", { body: { name: "ci" } })).json()) as { id: number };
    await asPerson(owner, `/v1/account/tokens/${token.id}`, { method: "DELETE" });
    const key = (await (await asPerson(owner, "/v1/account/enrollment-keys", { body: { description: "laptops" } })).json()) as { id: number };
    await asPerson(owner, `/v1/account/enrollment-keys/${key.id}`, { method: "DELETE" });
    const net = await createNetwork(owner, { name: "lab" });
    await deleteNetwork(owner, net.network_id);
    expect((await signIn(owner.email, PASSWORD, "203.0.113.7")).status).toBe(200);
    expect((await asPerson(owner, "/v1/session", { method: "DELETE" })).status).toBe(204);

    const { entries } = await accountTrail({ ...owner, cookie: await freshCookie(owner) });
    expect(entries.map((e) => [e.action, e.actor.type, e.network_id, e.target_id, e.target_name, e.ip])).toEqual([
      ["signed_in", "account", null, null, null, "203.0.113.8"],
      ["signed_out", "account", null, null, null, null],
      ["signed_in", "account", null, null, null, "203.0.113.7"],
      ["network_deleted", "account", net.network_id, null, "lab", null],
      ["network_created", "account", net.network_id, null, "lab", null],
      ["enrollment_key_revoked", "account", null, key.id, "laptops", null],
      ["enrollment_key_created", "account", null, key.id, "laptops", null],
      ["api_token_revoked", "account", null, token.id, "ci", null],
      ["api_token_created", "account", null, token.id, "ci", null],
      ["account_created", "account", null, null, null, owner.ip],
    ]);
    expect(entries.every((e, i) => i === 0 || e.id < entries[i - 1]!.id)).toBe(true);
  });

  it("records a credential's change with the change or not at all: a repeated or foreign revocation writes nothing", async () => {
    const owner = await signUp();
    const stranger = await signUp();
    const token = (await (await asPerson(owner, "/v1/account/tokens", { body: { name: "once" } })).json()) as { id: number };
    const key = (await (await asPerson(owner, "/v1/account/enrollment-keys", { body: { description: "once" } })).json()) as { id: number };
    for (const path of [`/v1/account/tokens/${token.id}`, `/v1/account/enrollment-keys/${key.id}`]) {
      expect((await asPerson(stranger, path, { method: "DELETE" })).status).toBe(404);
      expect((await asPerson(owner, path, { method: "DELETE" })).status).toBe(200);
      expect((await asPerson(owner, path, { method: "DELETE" })).status).toBe(404);
    }
    expect((await accountTrail(owner)).entries.map((e) => [e.action, e.target_id])).toEqual([
      ["enrollment_key_revoked", key.id],
      ["api_token_revoked", token.id],
      ["enrollment_key_created", key.id],
      ["api_token_created", token.id],
      ["account_created", null],
    ]);
    expect((await accountTrail(stranger)).entries.map((e) => e.action)).toEqual(["account_created"]);
  });

  it("shows the owner failed sign-ins on their account, and a stranger the same answer whether or not the email has one", async () => {
    const owner = await signUp();
    const wrong = await signIn(owner.email, "not the password", "192.0.2.66");
    const nobody = await signIn(`nobody-${crypto.randomUUID()}@example.com`, "not the password", "192.0.2.66");
    expect([wrong.status, await wrong.text()]).toEqual([nobody.status, await nobody.text()]);
    expect(wrong.status).toBe(401);
    // Recorded after the answer has gone, so the answer cannot wait on it: poll for it.
    await expect
      .poll(async () => (await accountTrail(owner)).entries.map((e) => [e.action, e.actor.type, e.ip]), { timeout: 10_000 })
      .toContainEqual(["sign_in_failed", "anonymous", "192.0.2.66"]);
    // Nothing was written for the email nobody has.
    const orphans = await env.DB.prepare("SELECT count(*) AS n FROM account_audit WHERE account_id NOT IN (SELECT id FROM accounts)").first<{ n: number }>();
    expect(orphans!.n).toBe(0);
  });

  it("never holds a secret: no password, session, CSRF token, API token, enrollment key or join token", async () => {
    const owner = await signUp();
    const made = (await (await asPerson(owner, "/v1/account/tokens", { body: { name: "deploy" } })).json()) as { token: string };
    const key = (await (await asPerson(owner, "/v1/account/enrollment-keys", { body: { description: "fleet" } })).json()) as { key: string };
    const net = await createNetwork(owner);
    await signIn(owner.email, "a wrong password here", "192.0.2.1");
    await signIn(owner.email, PASSWORD, "192.0.2.2");
    await expect.poll(async () => (await accountTrail(owner)).entries.some((e) => e.action === "sign_in_failed"), { timeout: 10_000 }).toBe(true);
    const rows = JSON.stringify([
      ...(await env.DB.prepare("SELECT * FROM account_audit WHERE account_id = ?").bind(owner.accountId).all()).results,
      ...(await env.DB.prepare("SELECT * FROM audit_log WHERE account_id = ?").bind(owner.accountId).all()).results,
    ]);
    const cookieValue = owner.cookie.split("=")[1]!;
    for (const secret of [PASSWORD, "a wrong password here", made.token, key.key, net.join!.token, owner.csrf, decodeURIComponent(cookieValue), owner.email]) {
      expect(rows).not.toContain(secret);
    }
  });

  it("pages newest first with a cursor, and refuses bad paging and unauthenticated callers", async () => {
    const owner = await signUp();
    for (const name of ["a", "b", "c"]) await asPerson(owner, "/v1/account/tokens", { body: { name } });
    const first = await accountTrail(owner, "?limit=2");
    expect(first.entries.map((e) => e.target_name)).toEqual(["c", "b"]);
    const rest = await accountTrail(owner, `?cursor=${first.next_cursor}`);
    expect(rest.entries.map((e) => e.action)).toEqual(["api_token_created", "account_created"]);
    expect(rest.next_cursor).toBeNull();
    for (const query of ["?cursor=x", "?cursor=", "?limit=0", "?limit=501", "?limit=1e2", "?network_id=1", "?actor=x"]) {
      expect(await errorOf(await asPerson(owner, `/v1/account/audit${query}`)), query).toMatchObject({ status: 400, code: "invalid_request" });
    }
    expect(await errorOf(await call("/v1/account/audit"))).toMatchObject({ status: 401, code: "unauthenticated" });
    // Another account's trail is not reachable at all: the route has no account parameter.
    const other = await signUp();
    expect((await accountTrail(other)).entries.map((e) => e.action)).toEqual(["account_created"]);
  });
});

describe("the owner's live view", () => {
  it("hears the trail's newest entries after each change, and members' channels never do", async () => {
    const owner = await signUp();
    await env.DB.prepare("UPDATE accounts SET plan = 'pro' WHERE id = ?").bind(owner.accountId).run();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    await addMember(owner, net.network_id, a.nodeId);
    const member = await openChannel(a, net.network_id);
    await member.next("hello");
    const res = await exports.default.fetch(
      new Request(`${ORIGIN}/console/networks/${net.network_id}/live`, { headers: { upgrade: "websocket", cookie: owner.cookie, origin: ORIGIN } }),
    );
    const view = res.webSocket!;
    const heard: AuditUpdate[] = [];
    view.addEventListener("message", (e) => {
      const message = JSON.parse(String(e.data)) as { type: string };
      if (message.type === "audit") heard.push(message as AuditUpdate);
    });
    view.accept();
    const newest = () => heard.at(-1)?.entries[0]?.action;

    expect((await addMember(owner, net.network_id, "someone-private")).status).toBe(200);
    await expect.poll(newest).toBe("node_invited");
    expect(heard.at(-1)!.entries[0]).toMatchObject({ target_name: "someone-private" });
    await addMember(owner, net.network_id, b.nodeId);
    await expect.poll(newest).toBe("member_added");
    // The update carries the trail's newest entries, newest first, the same as the API's first page.
    expect(heard.at(-1)!.entries).toEqual((await trail(owner, net.network_id, "?limit=10")).entries);
    // The member heard of b's arrival, sent after the invitation's update: no update ever reached it.
    await member.next("member_added");
    expect(member.events.map((e) => e.type)).not.toContain("audit");
    expect(JSON.stringify(member.events)).not.toContain("someone-private");
    view.close();
  });
});

describe("the console's trail pages", () => {
  it("show a deleted network's trail and the account's, to the second, and refuse a bad page", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { name: "console-trail" });
    await deleteNetwork(owner, net.network_id);
    const trailPage = await asPerson(owner, `/console/networks/${net.network_id}/audit`);
    expect(trailPage.status).toBe(200);
    const html = await trailPage.text();
    expect(html).toContain("network deleted");
    expect(html).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    const account = await (await asPerson(owner, "/console/account")).text();
    expect(account).toContain(`href="/console/networks/${net.network_id}/audit"`);
    expect(account).toContain("Kept 365 days");
    for (const path of [`/console/networks/${net.network_id}/audit?cursor=x`, "/console/account?limit=0", "/console/account?cursor=1&extra=1"]) {
      expect((await asPerson(owner, path)).status, path).toBe(400);
    }
    const stranger = await signUp();
    expect((await asPerson(stranger, `/console/networks/${net.network_id}/audit`)).status).toBe(404);
    // Without a session, the page sends the person to sign in (the test's fetch follows the redirect).
    const anonymous = await (await call("/console/account")).text();
    expect(anonymous).toContain('data-action="sign-in"');
    expect(anonymous).not.toContain("Account activity");
  });
});

describe("the API description", () => {
  it("names the account's trail listAccountAudit, with its page schema, and says a deleted network's log stays readable", async () => {
    const doc = (await (await call("/v1/openapi.json")).json()) as {
      paths: Record<string, Record<string, { operationId?: string; description?: string; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    const list = doc.paths["/v1/account/audit"]!.get!;
    expect(list.operationId).toBe("listAccountAudit");
    expect(list.responses["200"]!.content!["application/json"]!.schema.$ref).toBe("#/components/schemas/AccountAuditPage");
    expect(Object.keys(list.responses).sort()).toEqual(["200", "400", "401", "403", "503"]);
    expect(Object.keys(doc.components.schemas.AccountAuditEntry!.properties!).sort()).toEqual(["action", "actor", "at", "id", "ip", "network_id", "target_id", "target_name"]);
    expect(doc.paths["/v1/networks/{id}/audit"]!.get!.description).toContain("deleted");
  });
});

describe("retention", () => {
  const DAY = 86_400_000;

  it("sweeps entries older than AUDIT_RETENTION_DAYS from both trails, and keeps the rest", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    await addMember(owner, net.network_id, (await enrolledNode(owner)).nodeId);
    const now = Date.now();
    // Aged in place: every entry of this account is three days old, but the network's creation.
    await env.DB.batch([
      env.DB.prepare("UPDATE account_audit SET at = ? WHERE account_id = ?").bind(now - 3 * DAY, owner.accountId),
      env.DB.prepare("UPDATE audit_log SET at = ? WHERE account_id = ? AND action <> 'network_created'").bind(now - 3 * DAY, owner.accountId),
    ]);
    const kept = await accountTrail(owner);
    await sweepOldAudit({ AUDIT_RETENTION_DAYS: "7" }, database(env), now);
    expect((await trail(owner, net.network_id)).entries.map((e) => e.action)).toEqual(["member_added", "network_created"]);
    expect(await accountTrail(owner)).toEqual(kept);
    await sweepOldAudit({ AUDIT_RETENTION_DAYS: "2" }, database(env), now);
    expect((await trail(owner, net.network_id)).entries.map((e) => e.action)).toEqual(["network_created"]);
    expect((await accountTrail(owner)).entries).toEqual([]);
    // The live network is still its owner's, its trail readable, even with the account's entries gone.
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).status).toBe(200);
  });

  it("ends a deleted network's trail with its last entry: then it is a 404 like any missing network", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    await deleteNetwork(owner, net.network_id);
    await env.DB.prepare("UPDATE audit_log SET at = at - ? WHERE network_id = ?").bind(2 * DAY, net.network_id).run();
    await sweepOldAudit({ AUDIT_RETENTION_DAYS: "1" }, database(env), Date.now());
    expect(await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/audit`))).toMatchObject({ status: 404, code: "network_not_found" });
  });

  it("refuses a retention that is not a whole number of days from 1 to 36500, and deletes nothing", async () => {
    const owner = await signUp();
    await env.DB.prepare("UPDATE account_audit SET at = 0 WHERE account_id = ?").bind(owner.accountId).run();
    for (const days of ["0", "", "-1", "1.5", "seven", "36501"]) {
      await expect(sweepOldAudit({ AUDIT_RETENTION_DAYS: days }, database(env), Date.now()), days).rejects.toMatchObject({ status: 503, code: "server_misconfigured" });
    }
    expect((await accountTrail(owner)).entries.map((e) => e.action)).toEqual(["account_created"]);
  });
});

/** Signs the person in again (a sign-out ended their session), from a known address. */
async function freshCookie(p: Person): Promise<string> {
  const res = await signIn(p.email, PASSWORD, "203.0.113.8");
  const m = /pilot_session=[^;]+/.exec(res.headers.get("set-cookie") ?? "");
  return m![0];
}
