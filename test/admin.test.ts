/**
 * The operator's admin API (docs/admin.md): who may call it, finding accounts, plans, and
 * suspending accounts and nodes, with every refusal.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { AccountDetail, AccountSummary, MemberPage, Plan, TrustedPeer } from "@pilot/protocol";
import { app } from "../worker/app.ts";
import {
  addMember,
  asPerson,
  call,
  createNetwork,
  enrolledNode,
  errorOf,
  makeIdentity,
  openChannel,
  openNodeChannel,
  ORIGIN,
  proof,
  register,
  signUp,
  type CallOptions,
  type Person,
} from "./helpers.ts";

const operator = { authorization: `Bearer ${env.OPERATOR_TOKEN}` };
const admin = (path: string, opts: CallOptions = {}) => call(`/v1/admin${path}`, { ...opts, headers: { ...operator, ...opts.headers } });
const post = (path: string, body?: unknown) => admin(path, { method: "POST", ...(body === undefined ? {} : { body }) });

const uniquePlan = () => `plan-${crypto.randomUUID().slice(0, 8)}`;

async function putPlan(id: string, max_networks: number, max_members: number) {
  const res = await admin(`/plans/${id}`, { method: "PUT", body: { max_networks, max_members } });
  expect([200, 201]).toContain(res.status);
  return res;
}

async function apiToken(p: Person): Promise<string> {
  const res = await asPerson(p, "/v1/account/tokens", { body: { name: "ops" } });
  return ((await res.json()) as { token: string }).token;
}

describe("who may call the admin API", () => {
  const routes: [string, string][] = [
    ["GET", "/accounts"],
    ["GET", "/accounts/1"],
    ["PUT", "/accounts/1/plan"],
    ["GET", "/plans"],
    ["PUT", "/plans/pro"],
    ["DELETE", "/plans/pro"],
    ["POST", "/accounts/1/suspend"],
    ["POST", "/accounts/1/restore"],
    ["POST", "/nodes/1/suspend"],
    ["POST", "/nodes/1/restore"],
  ];

  it("refuses every route without the operator's token, with a wrong one, and with an account's session or API token", async () => {
    const p = await signUp();
    const pat = await apiToken(p);
    for (const [method, path] of routes) {
      for (const headers of [{} as Record<string, string>, { authorization: "Bearer wrong-wrong-wrong-wrong-wrong-wrong-wrong" }, { authorization: `Bearer ${pat}` }]) {
        const error = await errorOf(await call(`/v1/admin${path}`, { method, headers }));
        expect(error, `${method} ${path}`).toMatchObject({ status: 401, code: "unauthenticated" });
      }
      const session = await errorOf(await asPerson(p, `/v1/admin${path}`, { method }));
      expect(session, `${method} ${path} with a session`).toMatchObject({ status: 401, code: "unauthenticated" });
    }
  });

  it("answers 503 with the command to set it when the deployment has no OPERATOR_TOKEN", async () => {
    const { OPERATOR_TOKEN: _, ...without } = env;
    const res = await app.request(`${ORIGIN}/v1/admin/plans`, { headers: operator }, without);
    const error = await errorOf(res);
    expect(error).toMatchObject({ status: 503, code: "server_misconfigured" });
    expect(error.message).toContain("wrangler secret put OPERATOR_TOKEN");
  });

  it("publishes every admin route in OpenAPI with its operationId and the operator's security", async () => {
    const doc = (await (await call("/v1/openapi.json")).json()) as { paths: Record<string, Record<string, { operationId?: string; security?: unknown }>> };
    const ids: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith("/v1/admin/")) continue;
      for (const op of Object.values(ops)) {
        ids.push(op.operationId!);
        expect(op.security).toEqual([{ operator: [] }]);
      }
    }
    expect(ids).toEqual(
      expect.arrayContaining(["listAccounts", "getAccount", "setAccountPlan", "listPlans", "putPlan", "deletePlan", "suspendAccount", "restoreAccount", "suspendNode", "restoreNode"]),
    );
  });
});

describe("the trace of each admin action", () => {
  it("is one JSON line naming the action and its target, without the operator's token", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const p = await signUp();
      const plan = uniquePlan();
      await putPlan(plan, 1, 5);
      await admin(`/accounts/${p.accountId}/plan`, { method: "PUT", body: { plan } });
      await post(`/accounts/${p.accountId}/suspend`, { reason: "testing the trace" });
      await post(`/accounts/${p.accountId}/restore`);
      const lines = log.mock.calls.map((args) => String(args[0])).filter((line) => line.includes('"operator_action"'));
      expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
        expect.objectContaining({ event: "operator_action", action: "plan_put", plan }),
        expect.objectContaining({ action: "account_plan_set", account_id: p.accountId, plan }),
        expect.objectContaining({ action: "account_suspended", account_id: p.accountId, reason: "testing the trace" }),
        expect.objectContaining({ action: "account_restored", account_id: p.accountId }),
      ]);
      for (const line of lines) expect(line).not.toContain(env.OPERATOR_TOKEN);
    } finally {
      log.mockRestore();
    }
  });
});

describe("accounts", () => {
  it("are found by exact email, by part of it, by plan and by suspension, a page at a time", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const people = await Promise.all([1, 2, 3].map((i) => signUp(`find-${tag}-${i}@example.com`)));
    const plan = uniquePlan();
    await putPlan(plan, 1, 5);
    await admin(`/accounts/${people[2]!.accountId}/plan`, { method: "PUT", body: { plan } });
    await post(`/accounts/${people[1]!.accountId}/suspend`);

    const page = async (query: string) => (await (await admin(`/accounts?${query}`)).json()) as { accounts: AccountSummary[]; next_cursor: string | null };
    expect((await page(`email=FIND-${tag}-1@example.com`)).accounts.map((a) => a.account_id)).toEqual([people[0]!.accountId]);
    const all = await page(`email_contains=${tag}`);
    expect(all.accounts.map((a) => a.account_id)).toEqual(people.map((p) => p.accountId));
    expect((await page(`plan=${plan}`)).accounts.map((a) => a.account_id)).toEqual([people[2]!.accountId]);
    expect((await page(`email_contains=${tag}&suspended=true`)).accounts.map((a) => a.account_id)).toEqual([people[1]!.accountId]);
    expect((await page(`email_contains=${tag}&suspended=false`)).accounts).toHaveLength(2);
    // A needle's % or _ is a character, not a wildcard.
    expect((await page(`email_contains=${tag.slice(0, 4)}%25`)).accounts).toEqual([]);

    const first = await page(`email_contains=${tag}&limit=2`);
    expect(first.accounts).toHaveLength(2);
    const second = await page(`email_contains=${tag}&limit=2&cursor=${first.next_cursor}`);
    expect(second.accounts.map((a) => a.account_id)).toEqual([people[2]!.accountId]);
    expect(second.next_cursor).toBeNull();
  });

  it("are read one at a time with their plan's limits and usage", async () => {
    const p = await signUp();
    const net = await createNetwork(p);
    const node = await enrolledNode(p);
    await addMember(p, net.network_id, node.nodeId);
    const detail = (await (await admin(`/accounts/${p.accountId}`)).json()) as AccountDetail;
    expect(detail).toMatchObject({
      account_id: p.accountId,
      email: p.email,
      plan: "free",
      suspended_at: null,
      suspension_reason: null,
      limits: { max_networks: 1, max_members: 5 },
      usage: { networks: 1, largest_network_members: 1, nodes_owned: 1 },
    });
  });

  it("refuses bad queries and IDs with 400 and unknown accounts with 404", async () => {
    for (const query of ["limit=0", "limit=501", "cursor=x", "suspended=yes", "plan=Not%20A%20Plan", "colour=blue"]) {
      expect((await errorOf(await admin(`/accounts?${query}`))).status, query).toBe(400);
    }
    for (const id of ["0", "abc", "-1", "12345678901"]) {
      expect((await errorOf(await admin(`/accounts/${id}`))).code, id).toBe("invalid_request");
    }
    expect(await errorOf(await admin("/accounts/999999999"))).toMatchObject({ status: 404, code: "account_not_found" });
  });
});

describe("plans", () => {
  it("are created, changed, listed and deleted once no account is on them", async () => {
    const id = uniquePlan();
    expect((await putPlan(id, 3, 50)).status).toBe(201);
    const changed = await putPlan(id, 4, 60);
    expect(changed.status).toBe(200);
    expect(await changed.json()).toEqual({ plan: id, max_networks: 4, max_members: 60, accounts: 0 });
    const { plans } = (await (await admin("/plans")).json()) as { plans: Plan[] };
    expect(plans.find((p) => p.plan === id)).toEqual({ plan: id, max_networks: 4, max_members: 60, accounts: 0 });
    expect(plans.find((p) => p.plan === "free")).toMatchObject({ max_networks: 1, max_members: 5 });

    const p = await signUp();
    await admin(`/accounts/${p.accountId}/plan`, { method: "PUT", body: { plan: id } });
    const inUse = await errorOf(await admin(`/plans/${id}`, { method: "DELETE" }));
    expect(inUse).toMatchObject({ status: 409, code: "plan_in_use" });
    expect(inUse.message).toContain("1 account(s)");
    await admin(`/accounts/${p.accountId}/plan`, { method: "PUT", body: { plan: "free" } });
    expect((await admin(`/plans/${id}`, { method: "DELETE" })).status).toBe(204);
    expect(await errorOf(await admin(`/plans/${id}`, { method: "DELETE" }))).toMatchObject({ status: 404, code: "plan_not_found" });
  });

  it("never deletes free, the plan new accounts get", async () => {
    expect(await errorOf(await admin("/plans/free", { method: "DELETE" }))).toMatchObject({ status: 409, code: "plan_in_use" });
  });

  it("refuse bad plan IDs and limits with 400, changing nothing", async () => {
    const id = uniquePlan();
    for (const body of [{}, { max_networks: 1 }, { max_networks: -1, max_members: 5 }, { max_networks: 1, max_members: 0 }, { max_networks: 1.5, max_members: 5 }, { max_networks: 1, max_members: 5, extra: 1 }]) {
      expect((await errorOf(await admin(`/plans/${id}`, { method: "PUT", body }))).code, JSON.stringify(body)).toBe("invalid_request");
    }
    for (const bad of ["Pro", "-x", "a".repeat(33), "p%20q"]) {
      expect((await errorOf(await admin(`/plans/${bad}`, { method: "PUT", body: { max_networks: 1, max_members: 5 } }))).code, bad).toBe("invalid_request");
    }
    const { plans } = (await (await admin("/plans")).json()) as { plans: Plan[] };
    expect(plans.some((p) => p.plan === id)).toBe(false);
  });

  it("move an account at once; over the new limits it keeps what it has and is refused more, told how to get it", async () => {
    const p = await signUp();
    const small = uniquePlan();
    await putPlan(small, 2, 1);
    expect((await admin(`/accounts/${p.accountId}/plan`, { method: "PUT", body: { plan: small } })).status).toBe(200);
    const net = await createNetwork(p);
    await createNetwork(p);
    const a = await enrolledNode(p);
    const b = await enrolledNode(p);
    expect((await addMember(p, net.network_id, a.nodeId)).status).toBe(200);
    const full = await errorOf(await addMember(p, net.network_id, b.nodeId));
    expect(full).toMatchObject({ status: 403, code: "plan_limit" });
    expect(full.message).toContain("contact the operator of this registry");

    await putPlan(small, 1, 1);
    const moved = (await (await admin(`/accounts/${p.accountId}`)).json()) as AccountDetail;
    expect(moved.usage.networks).toBe(2);
    const over = await errorOf(await asPerson(p, "/v1/networks", { body: { name: "third", join_rule: "token" } }));
    expect(over).toMatchObject({ status: 403, code: "plan_limit" });
    expect(over.message).toContain("contact the operator of this registry");
    // The console says it before anyone tries.
    expect(await (await call("/console", { headers: { cookie: p.cookie } })).text()).toContain("Your plan allows no more networks; to get more, contact the operator of this registry.");
  });

  it("refuse an unknown plan or account with 404, and a bad body with 400", async () => {
    const p = await signUp();
    expect(await errorOf(await admin(`/accounts/${p.accountId}/plan`, { method: "PUT", body: { plan: "no-such-plan" } }))).toMatchObject({ status: 404, code: "plan_not_found" });
    expect(await errorOf(await admin("/accounts/999999999/plan", { method: "PUT", body: { plan: "free" } }))).toMatchObject({ status: 404, code: "account_not_found" });
    for (const body of [{}, { plan: 5 }, { plan: "free", x: 1 }]) {
      expect((await errorOf(await admin(`/accounts/${p.accountId}/plan`, { method: "PUT", body }))).code).toBe("invalid_request");
    }
    expect(((await (await admin(`/accounts/${p.accountId}`)).json()) as AccountDetail).plan).toBe("free");
  });

  it("say what the operator configured about getting more", async () => {
    const { howToGetMore } = await import("../worker/accounts/upgrade.ts");
    expect(howToGetMore({ PLAN_UPGRADE_TEXT: "", PLAN_UPGRADE_URL: "" })).toBe("to get more, contact the operator of this registry");
    expect(howToGetMore({ PLAN_UPGRADE_TEXT: "", PLAN_UPGRADE_URL: "https://example.com/pricing" })).toBe(
      "to get more, contact the operator of this registry: https://example.com/pricing",
    );
    expect(howToGetMore({ PLAN_UPGRADE_TEXT: "upgrade in the billing page", PLAN_UPGRADE_URL: "https://example.com/billing" })).toBe(
      "upgrade in the billing page: https://example.com/billing",
    );
  });
});

describe("suspending an account", () => {
  it("refuses its sessions, API tokens, sign-in and enrollment keys with 403 account_suspended and the reason, until restored", async () => {
    const p = await signUp();
    const pat = await apiToken(p);
    const keyRes = await asPerson(p, "/v1/account/enrollment-keys", { body: { description: "fleet", reusable: true } });
    const { key } = (await keyRes.json()) as { key: string };

    const suspended = await post(`/accounts/${p.accountId}/suspend`, { reason: "unpaid invoice" });
    expect(suspended.status).toBe(200);
    expect(await suspended.json()).toMatchObject({ account_id: p.accountId, suspension_reason: "unpaid invoice", suspended_at: expect.any(String) });

    const refusals = [
      await asPerson(p, "/v1/account"),
      await call("/v1/account", { token: pat }),
      await call("/v1/sessions", { body: { email: p.email, password: "correct horse battery" }, ip: p.ip }),
    ];
    const identity = await makeIdentity();
    refusals.push(await call("/v1/nodes", { body: { ...(await proof(identity, "register")), enrollment_key: key }, ip: identity.ip }));
    for (const res of refusals) {
      const error = await errorOf(res);
      expect(error).toMatchObject({ status: 403, code: "account_suspended" });
      expect(error.message).toContain("unpaid invoice");
      expect(error.message).toContain("contact the registry's operator");
    }
    const page = await call("/console", { headers: { cookie: p.cookie } });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain("unpaid invoice");
    // The wrong password learns nothing about the suspension.
    expect((await errorOf(await call("/v1/sessions", { body: { email: p.email, password: "wrong password!" }, ip: p.ip }))).code).toBe("invalid_credentials");
    expect(await errorOf(await post(`/accounts/${p.accountId}/suspend`))).toMatchObject({ status: 409, code: "already_suspended" });

    expect((await post(`/accounts/${p.accountId}/restore`)).status).toBe(200);
    expect((await call("/v1/account", { token: pat })).status).toBe(200);
    expect((await call("/v1/sessions", { body: { email: p.email, password: "correct horse battery" }, ip: p.ip })).status).toBe(200);
    expect(await errorOf(await post(`/accounts/${p.accountId}/restore`))).toMatchObject({ status: 409, code: "not_suspended" });
  });

  it("keeps its networks running but lets them take no new members", async () => {
    const p = await signUp();
    const net = await createNetwork(p, { join_rule: "token", token: "suspended-account-token-0001" });
    const member = await register();
    expect((await call(`/v1/networks/${net.network_id}/join`, { body: { token: "suspended-account-token-0001" }, token: member.token })).status).toBe(200);
    await post(`/accounts/${p.accountId}/suspend`);
    const newcomer = await register();
    const refused = await errorOf(await call(`/v1/networks/${net.network_id}/join`, { body: { token: "suspended-account-token-0001" }, token: newcomer.token }));
    expect(refused).toMatchObject({ status: 403, code: "account_suspended" });
    const members = (await (await call(`/v1/networks/${net.network_id}/members`, { token: member.token })).json()) as MemberPage;
    expect(members.members.map((m) => m.node_id)).toEqual([member.nodeId]);
  });

  it("refuses unknown accounts with 404 and bad reasons with 400", async () => {
    expect(await errorOf(await post("/accounts/999999999/suspend"))).toMatchObject({ status: 404, code: "account_not_found" });
    expect(await errorOf(await post("/accounts/999999999/restore"))).toMatchObject({ status: 404, code: "account_not_found" });
    const p = await signUp();
    for (const body of [{ reason: "" }, { reason: "x".repeat(501) }, { reason: 5 }, { why: "no" }]) {
      expect((await errorOf(await post(`/accounts/${p.accountId}/suspend`, body))).code, JSON.stringify(body)).toBe("invalid_request");
    }
    const raw = (type: string, rawBody: string) => admin(`/accounts/${p.accountId}/suspend`, { method: "POST", rawBody, headers: { "content-type": type } });
    expect(await errorOf(await raw("text/plain", "reason"))).toMatchObject({ status: 415, code: "unsupported_media_type" });
    expect(await errorOf(await raw("application/json", "{not json"))).toMatchObject({ status: 400, code: "invalid_json" });
    expect(((await (await admin(`/accounts/${p.accountId}`)).json()) as AccountDetail).suspended_at).toBeNull();
  });
});

describe("suspending a node", () => {
  it("cuts it off at once and keeps its networks and trust for its restoration", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const target = await enrolledNode(owner);
    const peer = await enrolledNode(owner);
    const truster = await register();
    for (const n of [target, peer]) await addMember(owner, net.network_id, n.nodeId);
    await env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at) VALUES (?, ?, ?)")
      .bind(Math.min(target.nodeId, truster.nodeId), Math.max(target.nodeId, truster.nodeId), Date.now())
      .run();

    const peerChannel = await openChannel(peer, net.network_id);
    const targetChannel = await openChannel(target, net.network_id);
    const targetNode = await openNodeChannel(target);
    const trusterNode = await openNodeChannel(truster);
    await Promise.all([peerChannel.next("hello"), targetChannel.next("hello"), targetNode.next("hello"), trusterNode.next("hello")]);

    const res = await post(`/nodes/${target.nodeId}/suspend`, { reason: "abuse report #12" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ node_id: target.nodeId, suspension_reason: "abuse report #12", suspended_at: expect.any(String) });

    // The node's sockets close, its co-members and trust peers hear it gone.
    expect((await targetChannel.waitClosed()).code).toBe(4006);
    expect((await targetNode.waitClosed()).code).toBe(4006);
    expect(await peerChannel.next("member_removed")).toMatchObject({ node_id: target.nodeId, reason: "suspended" });
    expect(await trusterNode.next("trust_revoked")).toMatchObject({ node_id: target.nodeId, reason: "suspended" });

    // It gets nothing: its token is refused, and it gets no new one, saying why.
    for (const r of [
      await call("/v1/nodes/self", { token: target.token }),
      await call(`/v1/resolve/${peer.nodeId}`, { token: target.token }),
      await call("/v1/nodes/self/certificate", { method: "POST", token: target.token }),
      await call("/v1/auth/token", { body: await proof(target, "token"), ip: target.ip }),
    ]) {
      const error = await errorOf(r);
      expect(error).toMatchObject({ status: 403, code: "node_suspended" });
      expect(error.message).toContain("abuse report #12");
    }
    expect((await errorOf(await call("/v1/nodes", { body: await proof(target, "register"), ip: target.ip }))).code).toBe("node_suspended");
    // Lists leave it out; the membership and the pair are still there.
    const members = (await (await call(`/v1/networks/${net.network_id}/members`, { token: peer.token })).json()) as MemberPage;
    expect(members.members.map((m) => m.node_id)).toEqual([peer.nodeId]);
    const trusted = (await (await call("/v1/trust", { token: truster.token })).json()) as { trusted: TrustedPeer[] };
    expect(trusted.trusted).toEqual([]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM memberships WHERE node_id = ?").bind(target.nodeId).first("n")).toBe(1);
    // A channel opened now (replacing the peer's first) greets without it: its tags are not in the policy's map.
    const later = await openChannel(peer, net.network_id);
    expect(Object.keys((await later.next("hello")).policy.tags)).toEqual([String(peer.nodeId)]);
    // A handshake finds it absent: the co-member gets what a missing node gets, and no trust or request is made.
    const handshake = async (to: number) => (await call("/v1/handshakes", { body: { target: String(to), justification: "still there?" }, token: peer.token })).json();
    expect(await handshake(target.nodeId)).toEqual({ ...((await handshake(4_000_000_000)) as object), node_id: target.nodeId });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM handshake_requests WHERE to_node = ?").bind(target.nodeId).first("n")).toBe(0);
    expect(await errorOf(await post(`/nodes/${target.nodeId}/suspend`))).toMatchObject({ status: 409, code: "already_suspended" });

    // Restored: the node gets a token with the same key, and everyone sees it back.
    expect((await post(`/nodes/${target.nodeId}/restore`)).status).toBe(200);
    expect((await later.next("member_added")).member.node_id).toBe(target.nodeId);
    expect(await trusterNode.next("trust_restored")).toMatchObject({ node_id: target.nodeId });
    const token = await call("/v1/auth/token", { body: await proof(target, "token"), ip: target.ip });
    expect(token.status).toBe(200);
    const fresh = ((await token.json()) as { access_token: string }).access_token;
    expect((await call(`/v1/resolve/${peer.nodeId}`, { token: fresh })).status).toBe(200);
    expect((await call(`/v1/resolve/${target.nodeId}`, { token: truster.token })).status).toBe(200);
    const after = (await (await call("/v1/trust", { token: truster.token })).json()) as { trusted: TrustedPeer[] };
    expect(after.trusted.map((t) => t.node_id)).toEqual([target.nodeId]);
    expect(await errorOf(await post(`/nodes/${target.nodeId}/restore`))).toMatchObject({ status: 409, code: "not_suspended" });
  });

  it("refuses unknown and deregistered nodes with 404, and bad IDs with 400", async () => {
    const gone = await register();
    await call("/v1/nodes/self", { method: "DELETE", token: gone.token });
    for (const id of [4_000_000_000, gone.nodeId]) {
      expect(await errorOf(await post(`/nodes/${id}/suspend`))).toMatchObject({ status: 404, code: "not_found" });
      expect(await errorOf(await post(`/nodes/${id}/restore`))).toMatchObject({ status: 404, code: "not_found" });
    }
    for (const id of ["0", "x", "4294967295", "1.5"]) {
      expect((await errorOf(await post(`/nodes/${id}/suspend`))).code, id).toBe("invalid_request");
    }
  });
});
