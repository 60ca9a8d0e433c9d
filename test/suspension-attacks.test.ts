/**
 * Attacks on the operator's suspensions (docs/admin.md) that the admin API's own tests do not
 * make: what a suspended node left behind (pending requests), late news of a restoration, and
 * what a stranger can do to someone else's account trail.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RELAY_CLOSE, type AccountAuditPage, type MemberPage, type PendingHandshake, type RelayFrame, type TrustedPeer } from "@pilot/protocol";
import { FAILED_SIGN_INS_RECORDED, recordFailedSignIn } from "../worker/accounts/audit.ts";
import { SWEEP_BATCH, SWEEP_BATCHES, sweepOldAudit } from "../worker/audit-retention.ts";
import { database } from "../worker/db/client.ts";
import { networkHub } from "../worker/networks/hub.ts";
import { addMember, asPerson, call, createNetwork, enrolledNode, errorOf, freshIp, openChannel, openNodeChannel, openRelay, ORIGIN, proof, register, signUp, type Person, type Registered } from "./helpers.ts";

const operator = { authorization: `Bearer ${env.OPERATOR_TOKEN}` };
const admin = (path: string) => call(`/v1/admin${path}`, { method: "POST", headers: operator });

/** A network of two of its owner's nodes. */
async function twoMembers() {
  const owner = await signUp();
  const net = await createNetwork(owner);
  const [target, peer] = [await enrolledNode(owner), await enrolledNode(owner)];
  for (const n of [target, peer]) await addMember(owner, net.network_id, n.nodeId);
  return { owner, net, target, peer };
}

/** A network of two of its owner's nodes, `target` suspended. */
async function suspendedMember() {
  const two = await twoMembers();
  expect((await admin(`/nodes/${two.target.nodeId}/suspend`)).status).toBe(200);
  return two;
}

/** A new access token for the node, proving its key (as its daemon does after a restoration). */
const freshToken = async (n: Registered) =>
  ((await (await call("/v1/auth/token", { body: await proof(n, "token"), ip: n.ip })).json()) as { access_token: string }).access_token;

const pending = async (n: Registered) => ((await (await call("/v1/handshakes/pending", { token: n.token })).json()) as { pending: PendingHandshake[] }).pending;
const trusted = async (n: Registered) => ((await (await call("/v1/trust", { token: n.token })).json()) as { trusted: TrustedPeer[] }).trusted;

describe("a suspended node's pending handshake request", () => {
  it("is absent while it is suspended: not listed, and approving or rejecting it is what it is for a node that never asked", async () => {
    const [asker, target] = [await register(), await register()];
    const sent = await call("/v1/handshakes", { body: { target: String(target.nodeId), justification: "let me in" }, token: asker.token });
    expect(sent.status).toBe(200);
    expect((await pending(target)).map((p) => p.node_id)).toEqual([asker.nodeId]);

    expect((await admin(`/nodes/${asker.nodeId}/suspend`)).status).toBe(200);
    expect(await pending(target)).toEqual([]);
    const never = await register();
    for (const decide of [
      (from: number) => call(`/v1/handshakes/${from}/approve`, { method: "POST", token: target.token }),
      (from: number) => call(`/v1/handshakes/${from}/reject`, { body: {}, token: target.token }),
    ]) {
      const [suspended, missing] = [await errorOf(await decide(asker.nodeId)), await errorOf(await decide(never.nodeId))];
      expect(suspended).toEqual({ ...missing, message: missing.message.replace(String(never.nodeId), String(asker.nodeId)) });
    }
    expect(await trusted(target)).toEqual([]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM trust_pairs WHERE node_a = ?1 OR node_b = ?1").bind(asker.nodeId).first("n")).toBe(0);

    // Restored, the request is there again, and approving it makes real trust.
    expect((await admin(`/nodes/${asker.nodeId}/restore`)).status).toBe(200);
    expect((await pending(target)).map((p) => p.node_id)).toEqual([asker.nodeId]);
    expect((await call(`/v1/handshakes/${asker.nodeId}/approve`, { method: "POST", token: target.token })).status).toBe(200);
    expect((await trusted(target)).map((t) => t.node_id)).toEqual([asker.nodeId]);
  });
});

/**
 * Adds a member, a change pushed for sure, and expects it to be the first thing the channel hears
 * after its greeting: nothing came before it.
 */
async function expectNothingBeforeNextChange(owner: Person, networkId: number, channel: Awaited<ReturnType<typeof openChannel>>, helloRevision: number) {
  const other = await enrolledNode(owner);
  await addMember(owner, networkId, other.nodeId);
  const next = await channel.next("member_added");
  expect(next.member.node_id).toBe(other.nodeId);
  expect(next.revision).toBe(helloRevision + 1);
  expect(channel.events).toEqual([]);
}

describe("a restoration's word to a network", () => {
  it("says nothing when it arrives after the node was suspended again", async () => {
    const { owner, net, target, peer } = await suspendedMember();
    const channel = await openChannel(peer, net.network_id);
    const hello = await channel.next("hello");

    // A restore's fan-out, overtaken by a new suspension: the network's object hears "restored" last.
    await networkHub(env, net.network_id).memberRestored(net.network_id, target.nodeId);
    await expectNothingBeforeNextChange(owner, net.network_id, channel, hello.revision);
  });
});

describe("a suspension's word to a network", () => {
  it("says nothing and closes nothing when it arrives after the node was restored", async () => {
    const { owner, net, target, peer } = await twoMembers();
    const watcher = await openChannel(peer, net.network_id);
    const hello = await watcher.next("hello");
    const restored = await openChannel(target, net.network_id);
    await restored.next("hello");

    // A suspension's fan-out, overtaken by the restoration: the node is not suspended in D1.
    await networkHub(env, net.network_id).memberSuspended(net.network_id, target.nodeId);
    await expectNothingBeforeNextChange(owner, net.network_id, watcher, hello.revision);
    expect(restored.closed()).toBeUndefined();
  });
});

describe("failed sign-ins on someone else's account", () => {
  it("fill its trail only so far, from however many addresses they come", async () => {
    const victim = await signUp();
    const attempts = 40;
    // What the sign-in route does after each wrong password's answer (each address has its own rate limit).
    for (let i = 0; i < attempts; i++) await recordFailedSignIn(database(env), victim.email, freshIp());
    const page = (await (await asPerson(victim, "/v1/account/audit?limit=500")).json()) as AccountAuditPage;
    const failed = page.entries.filter((e) => e.action === "sign_in_failed");
    expect(failed.length).toBe(FAILED_SIGN_INS_RECORDED);
    // An hour on, failed sign-ins are recorded again.
    await recordFailedSignIn(database(env), victim.email, freshIp(), Date.now() + 3_600_001);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM account_audit WHERE account_id = ? AND action = 'sign_in_failed'").bind(victim.accountId).first("n")).toBe(
      FAILED_SIGN_INS_RECORDED + 1,
    );
  });

  it("are capped by a check that reads a few rows, however long the account's trail", async () => {
    const busy = await signUp();
    // A long trail of other entries, older than the failures that follow.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
       INSERT INTO account_audit (account_id, actor_type, action, ip, at) SELECT ?1, 'account', 'signed_in', '192.0.2.2', ?2 FROM n`,
    )
      .bind(busy.accountId, Date.now() - 60_000)
      .run();
    for (let i = 0; i < FAILED_SIGN_INS_RECORDED; i++) await recordFailedSignIn(database(env), busy.email, freshIp());
    const refused = await recordFailedSignIn(database(env), busy.email, freshIp());
    expect(refused.meta.changes).toBe(0);
    expect(refused.meta.rows_read).toBeLessThan(5 * FAILED_SIGN_INS_RECORDED);
  });
});

describe("a suspended member, as the network's owner sees it", () => {
  it("is listed to the owner, marked suspended, in the API and the console, while members' lists leave it out", async () => {
    const { owner, net, target, peer } = await suspendedMember();

    const ownerList = (await (await asPerson(owner, `/v1/networks/${net.network_id}/members`)).json()) as MemberPage;
    expect(ownerList.members.map((m) => [m.node_id, m.suspended])).toEqual([
      [target.nodeId, true],
      [peer.nodeId, undefined],
    ]);
    const memberList = (await (await call(`/v1/networks/${net.network_id}/members`, { token: peer.token })).json()) as MemberPage;
    expect(memberList.members.map((m) => m.node_id)).toEqual([peer.nodeId]);
    expect(JSON.stringify(memberList)).not.toContain("suspended");
    const page = await (await call(`/console/networks/${net.network_id}`, { headers: { cookie: owner.cookie } })).text();
    expect(page).toMatch(new RegExp(`data-node-id="${target.nodeId}">\\s*<td data-col="online" data-suspended="true">.*?suspended by the registry&#39;s operator`));

    // Restored, the mark is gone.
    expect((await admin(`/nodes/${target.nodeId}/restore`)).status).toBe(200);
    const after = (await (await asPerson(owner, `/v1/networks/${net.network_id}/members`)).json()) as MemberPage;
    expect(after.members.map((m) => [m.node_id, m.suspended])).toEqual([
      [target.nodeId, undefined],
      [peer.nodeId, undefined],
    ]);
  });
});

describe("restoring a node", () => {
  it("gives back what was kept (hostname, memberships, trust) and nothing its owner or peers ended meanwhile", async () => {
    const owner = await signUp();
    expect((await call(`/v1/admin/accounts/${owner.accountId}/plan`, { method: "PUT", body: { plan: "pro" }, headers: operator })).status).toBe(200);
    const [kept, left] = [await createNetwork(owner), await createNetwork(owner)].map((n) => n.network_id) as [number, number];
    const target = await enrolledNode(owner);
    for (const id of [kept, left]) await addMember(owner, id, target.nodeId);
    expect((await call("/v1/nodes/self", { method: "PATCH", body: { hostname: "kept-name" }, token: target.token })).status).toBe(200);
    const [stays, revokes] = [await register(), await register()];
    for (const peer of [stays, revokes]) {
      await env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at) VALUES (?, ?, ?)")
        .bind(Math.min(target.nodeId, peer.nodeId), Math.max(target.nodeId, peer.nodeId), Date.now())
        .run();
    }
    expect((await admin(`/nodes/${target.nodeId}/suspend`)).status).toBe(200);

    // Meanwhile its owner takes it out of one network, and one peer ends its trust.
    expect((await asPerson(owner, `/v1/networks/${left}/members/${target.nodeId}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(`/v1/trust/${target.nodeId}`, { method: "DELETE", token: revokes.token })).status).toBe(200);

    expect((await admin(`/nodes/${target.nodeId}/restore`)).status).toBe(200);
    const memberships = await env.DB.prepare("SELECT network_id FROM memberships WHERE node_id = ?").bind(target.nodeId).all<{ network_id: number }>();
    expect(memberships.results.map((m) => m.network_id)).toEqual([kept]);
    expect((await trusted(stays)).map((t) => t.node_id)).toEqual([target.nodeId]);
    expect(await trusted(revokes)).toEqual([]);
    const token = await freshToken(target);
    expect(((await (await call("/v1/nodes/self", { token })).json()) as { hostname: string | null }).hostname).toBe("kept-name");
    expect((await call("/v1/resolve/kept-name", { token: stays.token })).status).toBe(200);
    expect((await call("/v1/resolve/kept-name", { token: revokes.token })).status).toBe(404);
  });
});

describe("the audit sweep under a backlog", () => {
  it("deletes only what is past retention, at most its bound a run, and the rest on the next runs", async () => {
    const victim = await signUp();
    const bound = SWEEP_BATCH * SWEEP_BATCHES;
    const backlog = bound + 50;
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO account_audit (account_id, actor_type, action, ip, at) SELECT ?1, 'anonymous', 'sign_in_failed', '192.0.2.1', i FROM n`,
    )
      .bind(victim.accountId, backlog)
      .run();
    const count = async () => env.DB.prepare("SELECT COUNT(*) AS n FROM account_audit WHERE account_id = ?").bind(victim.accountId).first<number>("n");
    const recent = (await count())! - backlog;
    expect(recent).toBeGreaterThan(0);

    const retention = { AUDIT_RETENTION_DAYS: "7" };
    expect(await sweepOldAudit(retention, database(env), Date.now())).toBe(bound);
    expect(await count()).toBe(recent + 50);
    expect(await sweepOldAudit(retention, database(env), Date.now())).toBe(50);
    expect(await count()).toBe(recent);
    expect(await sweepOldAudit(retention, database(env), Date.now())).toBe(0);
  });
});

describe("a suspended node on the relay", () => {
  const frame = (node: Registered, text: string): RelayFrame => ({ node: node.nodeId, frame: new TextEncoder().encode(`PILS${text}`) });
  const texts = (frames: RelayFrame[]) => frames.map((f) => new TextDecoder().decode(f.frame.subarray(4)));

  it("is cut off both ways: its connection closes, it cannot open another (nor a channel), and frames to it vanish as to a missing node until restored", async () => {
    const { net, target, peer } = await twoMembers();
    const [rt, rp] = [await openRelay(target), await openRelay(peer)];
    rp.send([frame(target, "before")]);
    expect(texts(await rt.next())).toEqual(["before"]);

    expect((await admin(`/nodes/${target.nodeId}/suspend`)).status).toBe(200);
    expect((await rt.waitClosed()).code).toBe(RELAY_CLOSE.suspended);
    // Nor any channel: its node channel or its network's.
    for (const open of [openRelay(target), openNodeChannel(target), openChannel(target, net.network_id)]) await expect(open).rejects.toThrow(/403 .*node_suspended/);
    // A frame to it, and one to a node that never existed, with a public witness to show both were handled.
    const witness = await register();
    expect((await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: witness.token })).status).toBe(200);
    const rw = await openRelay(witness);
    rp.send([frame(target, "during"), { node: 4_000_000_000, frame: new TextEncoder().encode("PILSduring") }, frame(witness, "witness")]);
    expect(texts(await rw.next())).toEqual(["witness"]);
    expect({ messages: rp.messages.length, texts: rp.texts.length, closed: rp.closed() }).toEqual({ messages: 0, texts: 0, closed: undefined });

    expect((await admin(`/nodes/${target.nodeId}/restore`)).status).toBe(200);
    target.token = await freshToken(target);
    const again = await openRelay(target);
    const deadline = Date.now() + 10_000;
    while (again.messages.length === 0 && Date.now() < deadline) {
      rp.send([frame(target, "after")]);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(texts(again.messages[0] ?? [])).toEqual(["after"]);
    for (const r of [rp, rw, again]) r.ws.close();
  });
});

describe("a suspended account", () => {
  it("loses its open live views and gets no new one, and its networks take nobody by invitation either", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const invitee = await register();
    expect((await addMember(owner, net.network_id, invitee.nodeId)).status).toBe(200);
    const liveView = () =>
      exports.default.fetch(new Request(`${ORIGIN}/console/networks/${net.network_id}/live`, { headers: { upgrade: "websocket", cookie: owner.cookie, origin: ORIGIN } }));
    const view = (await liveView()).webSocket!;
    let closed = false;
    view.addEventListener("close", () => (closed = true));
    view.accept();

    expect((await admin(`/accounts/${owner.accountId}/suspend`)).status).toBe(200);
    await expect.poll(() => closed).toBe(true);
    expect((await liveView()).status).toBe(403);
    const refused = await errorOf(await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: invitee.token }));
    expect(refused).toMatchObject({ status: 403, code: "account_suspended" });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM memberships WHERE network_id = ?").bind(net.network_id).first("n")).toBe(0);

    // Restored, the invitation it left open is still there to accept.
    expect((await admin(`/accounts/${owner.accountId}/restore`)).status).toBe(200);
    expect((await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: invitee.token })).status).toBe(200);
  });
});

describe("the operator's plan change", () => {
  it("is in the account's trail, by the operator, with the new plan; a move that changes nothing, or fails, writes nothing", async () => {
    const p = await signUp();
    const move = (plan: string) => call(`/v1/admin/accounts/${p.accountId}/plan`, { method: "PUT", body: { plan }, headers: operator });
    expect((await move("pro")).status).toBe(200);
    expect((await move("pro")).status).toBe(200);
    expect(await errorOf(await move("no-such-plan"))).toMatchObject({ status: 404, code: "plan_not_found" });
    const trail = (await (await asPerson(p, "/v1/account/audit")).json()) as AccountAuditPage;
    expect(trail.entries.filter((e) => e.action === "plan_changed").map((e) => [e.actor.type, e.target_name])).toEqual([["operator", "pro"]]);
    expect(await errorOf(await call("/v1/admin/accounts/999999999/plan", { method: "PUT", body: { plan: "pro" }, headers: operator }))).toMatchObject({
      status: 404,
      code: "account_not_found",
    });
  });
});

describe("the operator's suspensions in the owner's trail", () => {
  const actions = async (p: Person) =>
    ((await (await asPerson(p, "/v1/account/audit")).json()) as AccountAuditPage).entries
      .filter((e) => e.actor.type === "operator")
      .map((e) => [e.action, e.target_id, e.target_name]);

  it("are recorded once each, by the operator, with the reason: the account's own and its nodes'", async () => {
    const owner = await signUp();
    const node = await enrolledNode(owner);
    const unowned = await register();
    for (const path of [`/nodes/${node.nodeId}/suspend`, `/nodes/${node.nodeId}/suspend`, `/nodes/${node.nodeId}/restore`, `/nodes/${unowned.nodeId}/suspend`]) await admin(path);
    const suspend = await call(`/v1/admin/accounts/${owner.accountId}/suspend`, { method: "POST", body: { reason: "unpaid invoice" }, headers: operator });
    expect(suspend.status).toBe(200);
    expect((await admin(`/accounts/${owner.accountId}/suspend`)).status).toBe(409);
    expect((await admin(`/accounts/${owner.accountId}/restore`)).status).toBe(200);
    expect((await admin(`/accounts/${owner.accountId}/restore`)).status).toBe(409);
    expect(await actions(owner)).toEqual([
      ["account_restored", null, null],
      ["account_suspended", null, "unpaid invoice"],
      ["node_restored", node.nodeId, null],
      ["node_suspended", node.nodeId, null],
    ]);
    // A node without an owner leaves no entry anywhere.
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM account_audit WHERE target_id = ? AND action LIKE 'node_%'").bind(unowned.nodeId).first("n")).toBe(0);
  });
});

describe("the admin API's credential", () => {
  it("is checked before anything else is read, only from the Authorization header, in any case of its scheme", async () => {
    for (const res of [
      await call("/v1/admin/accounts/1/suspend", { method: "POST", rawBody: "{not json", headers: { "content-type": "application/json" } }),
      await call("/v1/admin/accounts?limit=99999&suspended=maybe"),
      await call("/v1/admin/stats?window=forever"),
      await call(`/v1/admin/accounts?token=${env.OPERATOR_TOKEN}`),
      await call(`/v1/admin/accounts?access_token=${env.OPERATOR_TOKEN}`),
      await call("/v1/admin/accounts", { headers: { authorization: `Bearer ${env.OPERATOR_TOKEN.toUpperCase()}` } }),
      await call("/v1/admin/accounts", { headers: { authorization: env.OPERATOR_TOKEN } }),
    ]) {
      expect(await errorOf(res)).toMatchObject({ status: 401, code: "unauthenticated" });
    }
    expect((await call("/v1/admin/accounts", { headers: { authorization: `bearer ${env.OPERATOR_TOKEN}` } })).status).toBe(200);
  });
});

describe("a suspended node of a suspended account", () => {
  it("is restored on its own: it works again while its account stays suspended, whose networks still take nobody", async () => {
    const { owner, net, target, peer } = await suspendedMember();
    expect((await admin(`/accounts/${owner.accountId}/suspend`)).status).toBe(200);
    expect((await admin(`/nodes/${target.nodeId}/restore`)).status).toBe(200);
    const token = await freshToken(target);
    expect((await call(`/v1/resolve/${peer.nodeId}`, { token })).status).toBe(200);
    expect((await call(`/v1/resolve/${target.nodeId}`, { token: peer.token })).status).toBe(200);
    const newcomer = await enrolledNode(await signUp());
    const invited = await env.DB.prepare("INSERT INTO invitations (network_id, node_id, created_at, expires_at, invited_as) VALUES (?, ?, ?, ?, ?)")
      .bind(net.network_id, newcomer.nodeId, Date.now(), Date.now() + 60_000, String(newcomer.nodeId))
      .run();
    expect(invited.success).toBe(true);
    expect(await errorOf(await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: newcomer.token }))).toMatchObject({
      status: 403,
      code: "account_suspended",
    });
  });
});

describe("every authenticated route in the API description", () => {
  it("refuses a suspended account's API token, and a suspended node's access token, before anything else", async () => {
    const doc = (await (await call("/v1/openapi.json")).json()) as { paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>> };
    const person = await signUp();
    const pat = ((await (await asPerson(person, "/v1/account/tokens", { body: { name: "automation" } })).json()) as { token: string }).token;
    const node = await register();
    expect((await admin(`/accounts/${person.accountId}/suspend`)).status).toBe(200);
    expect((await admin(`/nodes/${node.nodeId}/suspend`)).status).toBe(200);

    const tried = { account: 0, node: 0 };
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const schemes = (operation.security ?? []).flatMap((s) => Object.keys(s));
        const url = (path.startsWith("/v1") ? path : `/v1${path}`).replace(/\{[^}]+\}/g, "1");
        const as = async (token: string) => errorOf(await call(url, { method: method.toUpperCase(), token }));
        if (schemes.includes("apiToken")) {
          expect(await as(pat), `${method} ${path}`).toMatchObject({ status: 403, code: "account_suspended" });
          tried.account++;
        }
        if (schemes.includes("bearer")) {
          expect(await as(node.token), `${method} ${path}`).toMatchObject({ status: 403, code: "node_suspended" });
          tried.node++;
        }
      }
    }
    expect(tried.account).toBeGreaterThan(20);
    expect(tried.node).toBeGreaterThan(20);
  });
});

describe("a suspended account's person", () => {
  it("can still sign out, from the API and the console's suspended page, so a shared browser is not left signed in for the restoration", async () => {
    const p = await signUp();
    expect((await admin(`/accounts/${p.accountId}/suspend`)).status).toBe(200);
    const page = await call("/console", { headers: { cookie: p.cookie } });
    expect(page.status).toBe(403);
    const html = await page.text();
    expect(html).toContain('data-action="sign-out"');
    expect(html).toContain(`<meta name="csrf-token" content="${p.csrf}"/>`);
    // Still a state change: the CSRF check holds.
    expect(await errorOf(await call("/v1/session", { method: "DELETE", headers: { cookie: p.cookie, origin: ORIGIN } }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect((await asPerson(p, "/v1/session", { method: "DELETE" })).status).toBe(204);
    expect((await admin(`/accounts/${p.accountId}/restore`)).status).toBe(200);
    expect(await errorOf(await asPerson(p, "/v1/account"))).toMatchObject({ status: 401, code: "unauthenticated" });
  });
});

describe("a channel the Worker let through just before a suspension", () => {
  it("is refused by the network's object, which runs the suspension first", async () => {
    const { net, target } = await suspendedMember();
    // What the Worker forwards after checking the node's token: here the check passed before the
    // suspension, and the object's turn for the channel comes after the suspension's.
    const res = await networkHub(env, net.network_id).fetch(
      new Request(`${ORIGIN}/v1/networks/${net.network_id}/channel`, {
        headers: { upgrade: "websocket", "x-pilot-network": String(net.network_id), "x-pilot-node": String(target.nodeId) },
      }),
    );
    expect(res.status).toBe(404);
    expect(res.webSocket).toBeNull();
  });
});
