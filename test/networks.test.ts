/** The Networks seed, row by row: lifecycle, permissions, consent and token joins, through the API. */
import { generateJoinToken } from "../worker/networks/join-token.ts";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { formatAddress, type AddMemberResponse, type MemberPage, type Network } from "@pilot/protocol";
import { addMember, asPerson, awaitFreshRateWindow, call, createNetwork, enrolledNode, errorOf, join, register, signUp, type Person, type Registered } from "./helpers.ts";

const resolve = (n: Registered, target: string | number) => call(`/v1/resolve/${target}`, { token: n.token });
const members = async (who: Registered, id: number) => call(`/v1/networks/${id}/members`, { token: who.token });
const memberIds = async (owner: Person, id: number) =>
  ((await (await asPerson(owner, `/v1/networks/${id}/members`)).json()) as MemberPage).members.map((m) => m.node_id);
const makePro = (p: Person) => env.DB.prepare("UPDATE accounts SET plan = 'pro' WHERE id = ?").bind(p.accountId).run();

describe("creating networks", () => {
  it("gives a token-gated network a 192-bit token, a ready command and a join URL carrying the token in its fragment", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { name: "research-lab", join_rule: "token" });
    expect(net).toMatchObject({ name: "research-lab", join_rule: "token", members: 0, max_members: 5 });
    expect(net.network_id).toBeGreaterThanOrEqual(1);
    expect(net.join!.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(net.join!.command).toBe(`pilotctl join-network ${net.network_id} --token ${net.join!.token}`);
    // An agent on another machine needs to know which registry to start its daemon against.
    expect(net.join!.daemon).toBe("pilotctl daemon start --registry http://registry.test");
    expect(net.join!.url).toBe(`http://registry.test/join/${net.network_id}#token=${net.join!.token}`);
  });

  it("gives an invite-only network no token", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    expect(net.join).toBeNull();
  });

  it("answers a token rotation on an invite-only network with 409, a conflict with its join rule, changing nothing", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const err = await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} }));
    expect(err).toMatchObject({ status: 409, code: "network_invite_only" });
    expect(((await (await asPerson(owner, `/v1/networks/${net.network_id}`)).json()) as Network).join).toBeNull();
  });

  it("keeps a custom token of at least 11 characters", async () => {
    const owner = await signUp();
    expect((await createNetwork(owner, { token: "my-secret-1" })).join!.token).toBe("my-secret-1");
  });

  it("allows one network on the free plan, and more on Pro, with names unique per account", async () => {
    const owner = await signUp();
    await createNetwork(owner, { name: "first" });
    const second = await asPerson(owner, "/v1/networks", { body: { name: "second", join_rule: "invite" } });
    const err = await errorOf(second);
    expect(err).toMatchObject({ status: 403, code: "plan_limit" });
    expect(err.message).toMatch(/free plan allows 1 network/);
    await makePro(owner);
    expect((await asPerson(owner, "/v1/networks", { body: { name: "second", join_rule: "invite" } })).status).toBe(201);
    expect(await errorOf(await asPerson(owner, "/v1/networks", { body: { name: "first", join_rule: "invite" } }))).toMatchObject({
      status: 409,
      code: "network_name_taken",
    });
    // Another account may use the same name.
    expect((await createNetwork(await signUp(), { name: "first" })).name).toBe("first");
  });

  it("never lets concurrent creations pass the plan's limit", async () => {
    const owner = await signUp();
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => asPerson(owner, "/v1/networks", { body: { name: `race-${i}`, join_rule: "invite" } })),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([201, 403, 403, 403, 403, 403]);
  });

  it.each([
    ["an upper-case name", { name: "Lab", join_rule: "invite" }],
    ["a name with a space", { name: "my lab", join_rule: "invite" }],
    ["a 64-character name", { name: "a".repeat(64), join_rule: "invite" }],
    ["an empty name", { name: "", join_rule: "invite" }],
    ["an unknown join rule", { name: "lab", join_rule: "open" }],
    ["a token on an invite-only network", { name: "lab", join_rule: "invite", token: "long-enough" }],
    ["a 10-character token", { name: "lab", join_rule: "token", token: "1234567890" }],
    ["a token that starts with -", { name: "lab", join_rule: "token", token: "-1234567890" }],
    ["a token with a space", { name: "lab", join_rule: "token", token: "has a space" }],
    ["an unknown field", { name: "lab", join_rule: "invite", plan: "pro" }],
  ])("refuses %s", async (_, body) => {
    const owner = await signUp();
    expect(await errorOf(await asPerson(owner, "/v1/networks", { body }))).toMatchObject({ status: 400, code: "invalid_request" });
    const list = (await (await asPerson(owner, "/v1/networks")).json()) as { networks: unknown[] };
    expect(list.networks).toHaveLength(0);
  });

  it("lists the account's networks with its plan usage, and shows them to nobody else", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const list = (await (await asPerson(owner, "/v1/networks")).json()) as { networks: Network[]; plan: object };
    expect(list.networks.map((n) => n.network_id)).toEqual([net.network_id]);
    expect(list.plan).toEqual({ plan: "free", max_networks: 1, max_members: 5, networks: 1 });
    const stranger = await signUp();
    const missing = await asPerson(stranger, `/v1/networks/65535`);
    const theirs = await asPerson(stranger, `/v1/networks/${net.network_id}`);
    expect(theirs.status).toBe(404);
    expect(await theirs.text()).toBe(await missing.text());
    for (const [method, path, body] of [
      ["DELETE", `/v1/networks/${net.network_id}`, undefined],
      ["POST", `/v1/networks/${net.network_id}/token`, {}],
      ["POST", `/v1/networks/${net.network_id}/members`, { node: "1" }],
      ["GET", `/v1/networks/${net.network_id}/members`, undefined],
      ["GET", `/v1/networks/${net.network_id}/audit`, undefined],
      ["DELETE", `/v1/networks/${net.network_id}/members/1`, undefined],
    ] as const) {
      expect(await errorOf(await asPerson(stranger, path, { method, body }))).toMatchObject({ status: 404, code: "network_not_found" });
    }
  });
});

describe("adding nodes", () => {
  it("adds a node the account owns at once, by node ID, address or hostname", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [a, b, c] = [await enrolledNode(owner), await enrolledNode(owner), await enrolledNode(owner)];
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `host-${c.nodeId}` }, token: c.token });
    const byId = (await (await addMember(owner, net.network_id, a.nodeId)).json()) as AddMemberResponse;
    expect(byId).toEqual({ result: "added", node_id: a.nodeId, address: formatAddress({ network: net.network_id, node: a.nodeId }) });
    const byAddress = (await (await addMember(owner, net.network_id, formatAddress({ network: 0, node: b.nodeId }))).json()) as AddMemberResponse;
    expect(byAddress).toMatchObject({ result: "added", node_id: b.nodeId });
    expect(await (await addMember(owner, net.network_id, `host-${c.nodeId}`)).json()).toMatchObject({ result: "added", node_id: c.nodeId });
    expect(await (await addMember(owner, net.network_id, a.nodeId)).json()).toMatchObject({ result: "already_member" });
    expect(await memberIds(owner, net.network_id)).toEqual([a.nodeId, b.nodeId, c.nodeId]);
    // Members resolve each other at once.
    expect((await resolve(a, b.nodeId)).status).toBe(200);
    expect((await resolve(c, formatAddress({ network: net.network_id, node: a.nodeId }))).status).toBe(200);
  });

  it("only invites a node the account does not own (consent), and says the same for a node that does not exist", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const member = await enrolledNode(owner);
    await addMember(owner, net.network_id, member.nodeId);
    const stranger = await register();
    const invited = (await (await addMember(owner, net.network_id, stranger.nodeId)).json()) as AddMemberResponse;
    const ghost = (await (await addMember(owner, net.network_id, 3_999_999_999)).json()) as AddMemberResponse;
    expect(invited.result).toBe("invited");
    expect(Object.keys(ghost).sort()).toEqual(Object.keys(invited).sort());
    expect(ghost.result).toBe("invited");
    expect(await memberIds(owner, net.network_id)).toEqual([member.nodeId]);
    expect((await resolve(member, stranger.nodeId)).status).toBe(404);

    const list = (await (await call("/v1/invitations", { token: stranger.token })).json()) as { invitations: { network_id: number }[] };
    expect(list.invitations.map((i) => i.network_id)).toEqual([net.network_id]);
    const accepted = await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: stranger.token });
    expect(accepted.status).toBe(200);
    expect(await memberIds(owner, net.network_id)).toEqual([member.nodeId, stranger.nodeId].sort((x, y) => x - y));
    expect((await resolve(member, stranger.nodeId)).status).toBe(200);
    expect(await errorOf(await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: stranger.token }))).toMatchObject({
      status: 404,
      code: "invitation_not_found",
    });
  });

  it("leaves the same trace in the audit log for a private node's hostname and a name nobody has", async () => {
    const owner = await signUp();
    await makePro(owner);
    const net = await createNetwork(owner, { join_rule: "invite" });
    const hidden = await register();
    const name = `secret-${hidden.nodeId}`;
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: name }, token: hidden.token });
    const real = (await (await addMember(owner, net.network_id, name)).json()) as AddMemberResponse;
    const ghost = (await (await addMember(owner, net.network_id, "ghost-host-xyz")).json()) as AddMemberResponse;
    expect(Object.keys(real).sort()).toEqual(Object.keys(ghost).sort());
    const log = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).json()) as {
      entries: { action: string; target_node_id: number | null; target_name: string | null }[];
    };
    const [second, first] = log.entries;
    expect(first).toMatchObject({ action: "node_invited", target_node_id: null, target_name: name });
    expect(second).toMatchObject({ action: "node_invited", target_node_id: null, target_name: "ghost-host-xyz" });
    // Only the node's own acceptance reveals it.
    await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: hidden.token });
    const after = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).json()) as typeof log;
    expect(after.entries[0]).toMatchObject({ action: "invitation_accepted", target_node_id: hidden.nodeId });
  });

  it("lets an invited node decline, and invitations expire after 7 days", async () => {
    const owner = await signUp();
    await makePro(owner);
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [x, y] = [await register(), await register()];
    await addMember(owner, net.network_id, x.nodeId);
    await addMember(owner, net.network_id, y.nodeId);
    const logBefore = await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).text();
    expect((await call(`/v1/invitations/${net.network_id}/decline`, { method: "POST", token: x.token })).status).toBe(204);
    expect((await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: x.token })).status).toBe(404);
    // The owner's log is as if nobody had answered: a decline would tell it the name is a node's.
    expect(await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).text()).toBe(logBefore);
    const row = await env.DB.prepare("SELECT expires_at - created_at AS ttl FROM invitations WHERE node_id = ?").bind(y.nodeId).first<{ ttl: number }>();
    expect(row!.ttl).toBe(7 * 86_400_000);
    await env.DB.prepare("UPDATE invitations SET expires_at = ? WHERE node_id = ?").bind(Date.now() - 1, y.nodeId).run();
    expect(((await (await call("/v1/invitations", { token: y.token })).json()) as { invitations: unknown[] }).invitations).toEqual([]);
    expect(await errorOf(await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: y.token }))).toMatchObject({ code: "invitation_not_found" });
    expect(await memberIds(owner, net.network_id)).toEqual([]);
  });

  it("cannot be done by a node, or with an invitation to another node", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const invitee = await register();
    const other = await register();
    await addMember(owner, net.network_id, invitee.nodeId);
    expect((await call(`/v1/invitations/${net.network_id}/accept`, { method: "POST", token: other.token })).status).toBe(404);
    expect((await call(`/v1/networks/${net.network_id}/members`, { body: { node: String(other.nodeId) }, token: other.token })).status).toBe(401);
  });

  it.each([["an empty name", ""], ["punctuation", "a;b"], ["node 0", "0"]])("refuses %s with 400 invalid_target", async (_, node) => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    expect(await errorOf(await addMember(owner, net.network_id, node))).toMatchObject({ status: 400, code: "invalid_target" });
  });

  it("refuses an address whose hex network is not its decimal one with 422 invalid_target", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    expect(await errorOf(await addMember(owner, net.network_id, "1:00A3.F291.0004"))).toMatchObject({ status: 422, code: "invalid_target" });
  });
});

describe("the seed's permission table", () => {
  it("row by row, without and then with a shared network", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `seed-b-${b.nodeId}` }, token: b.token });
    await call("/v1/nodes/self/heartbeat", { body: { endpoint: "203.0.113.5:9000" }, token: b.token });
    // Without: private agents are invisible; the network cannot be enumerated.
    expect((await resolve(a, b.nodeId)).status).toBe(404);
    expect((await resolve(a, `seed-b-${b.nodeId}`)).status).toBe(404);
    expect(await errorOf(await members(a, net.network_id))).toMatchObject({ status: 404, code: "network_not_found" });
    // With: resolve any member's endpoint; the full member list is visible.
    await addMember(owner, net.network_id, a.nodeId);
    await addMember(owner, net.network_id, b.nodeId);
    expect(await (await resolve(a, `seed-b-${b.nodeId}`)).json()).toMatchObject({ node_id: b.nodeId, endpoint: "203.0.113.5:9000" });
    const page = (await (await members(a, net.network_id)).json()) as MemberPage;
    expect(page.members.map((m) => m.node_id)).toEqual([a.nodeId, b.nodeId]);
    expect(page.members[1]).toMatchObject({ hostname: `seed-b-${b.nodeId}`, endpoint: "203.0.113.5:9000", online: false });
  });

  it("grants nothing transitively: A–B in one network and B–C in another", async () => {
    const [o1, o2] = [await signUp(), await signUp()];
    const [n1, n2] = [await createNetwork(o1, { join_rule: "invite" }), await createNetwork(o2, { join_rule: "invite" })];
    const [a, b] = [await enrolledNode(o1), await enrolledNode(o1)];
    const c = await enrolledNode(o2);
    await addMember(o1, n1.network_id, a.nodeId);
    await addMember(o1, n1.network_id, b.nodeId);
    await addMember(o2, n2.network_id, c.nodeId);
    await addMember(o2, n2.network_id, b.nodeId);
    await call(`/v1/invitations/${n2.network_id}/accept`, { method: "POST", token: b.token });
    expect((await resolve(b, c.nodeId)).status).toBe(200);
    expect((await resolve(a, b.nodeId)).status).toBe(200);
    expect((await resolve(a, c.nodeId)).status).toBe(404);
    expect((await resolve(c, a.nodeId)).status).toBe(404);
    expect((await members(a, n2.network_id)).status).toBe(404);
  });
});

describe("removal, leaving and deletion", () => {
  it("remove revokes at once: the very next resolve is denied", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    await addMember(owner, net.network_id, a.nodeId);
    await addMember(owner, net.network_id, b.nodeId);
    for (let round = 0; round < 3; round++) {
      expect((await resolve(a, b.nodeId)).status).toBe(200);
      expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" })).status).toBe(204);
      expect((await resolve(a, b.nodeId)).status).toBe(404);
      expect((await resolve(b, a.nodeId)).status).toBe(404);
      await addMember(owner, net.network_id, b.nodeId);
    }
    expect(await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/members/999999`, { method: "DELETE" }))).toMatchObject({ code: "not_member" });
  });

  it("remove racing resolve: once the remove has answered, no resolve succeeds", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    await addMember(owner, net.network_id, a.nodeId);
    await addMember(owner, net.network_id, b.nodeId);
    let removedAt = 0;
    const removal = asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" }).then((r) => {
      removedAt = performance.now();
      return r.status;
    });
    const results: { status: number; started: number }[] = [];
    while (removedAt === 0 || results.length < 40) {
      const started = performance.now();
      results.push({ status: (await resolve(a, b.nodeId)).status, started });
    }
    expect(await removal).toBe(204);
    const after = results.filter((r) => r.started > removedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.status === 404)).toBe(true);
  });

  it("a node may leave", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];
    await join(a, net.network_id, net.join!.token);
    await join(b, net.network_id, net.join!.token);
    expect((await call(`/v1/networks/${net.network_id}/leave`, { method: "POST", token: a.token })).status).toBe(204);
    expect((await resolve(b, a.nodeId)).status).toBe(404);
    expect(await errorOf(await call(`/v1/networks/${net.network_id}/leave`, { method: "POST", token: a.token }))).toMatchObject({ status: 404, code: "network_not_found" });
    const mine = (await (await call("/v1/nodes/self/networks", { token: a.token })).json()) as { networks: unknown[] };
    expect(mine.networks).toEqual([]);
  });

  it("delete removes every association, while nodes keep their registration and bilateral trust", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b, c] = [await register(), await register(), await register()];
    for (const n of [a, b, c]) await join(n, net.network_id, net.join!.token);
    await env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at) VALUES (?, ?, 0)").bind(Math.min(a.nodeId, c.nodeId), Math.max(a.nodeId, c.nodeId)).run();
    expect((await asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" })).status).toBe(204);
    expect((await resolve(a, b.nodeId)).status).toBe(404);
    expect((await resolve(a, c.nodeId)).status).toBe(200);
    expect((await call("/v1/nodes/self", { token: b.token })).status).toBe(200);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM memberships WHERE network_id = ?").bind(net.network_id).first<{ n: number }>();
    expect(left!.n).toBe(0);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}`)).status).toBe(404);
    expect(await errorOf(await join(a, net.network_id, net.join!.token))).toMatchObject({ code: "join_denied" });
    // The ID is never handed out again.
    const next = await createNetwork(owner);
    expect(next.network_id).toBeGreaterThan(net.network_id);
  });

  it("delete racing joins leaves no member behind", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const nodes = await Promise.all(Array.from({ length: 4 }, () => register()));
    const joins = nodes.map((n) => join(n, net.network_id, net.join!.token));
    const deletion = asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" });
    const statuses = await Promise.all([...joins, deletion].map(async (r) => (await r).status));
    expect(statuses.at(-1)).toBe(204);
    expect(statuses.slice(0, -1).every((s) => s === 200 || s === 403)).toBe(true);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM memberships WHERE network_id = ?").bind(net.network_id).first<{ n: number }>();
    expect(left!.n).toBe(0);
    for (const n of nodes) expect((await resolve(nodes[0]!, n.nodeId)).status).toBe(n === nodes[0] ? 200 : 404);
  });

  it("a join racing the node's own deregistration never leaves it a member, even after it re-registers", async () => {
    const owner = await signUp();
    await makePro(owner);
    const [n1, n2] = [await createNetwork(owner), await createNetwork(owner)];
    for (let round = 0; round < 5; round++) {
      const b = await register();
      const other = await register();
      await join(b, n1.network_id, n1.join!.token);
      await join(other, n2.network_id, n2.join!.token);
      const [joined, gone] = await Promise.all([join(b, n2.network_id, n2.join!.token), call("/v1/nodes/self", { method: "DELETE", token: b.token })]);
      expect(gone.status).toBe(204);
      expect([200, 401, 403, 404]).toContain(joined.status);
      const left = await env.DB.prepare("SELECT count(*) AS n FROM memberships WHERE node_id = ?").bind(b.nodeId).first<{ n: number }>();
      expect(left!.n).toBe(0);
      const counts = await env.DB.prepare(
        "SELECT n.member_count AS c, (SELECT count(*) FROM memberships m WHERE m.network_id = n.id) AS r FROM networks n WHERE n.id IN (?, ?)",
      ).bind(n1.network_id, n2.network_id).all<{ c: number; r: number }>();
      for (const row of counts.results) expect(row.c).toBe(row.r);
      const back = await register(b);
      expect((await resolve(other, back.nodeId)).status).toBe(404);
      await call("/v1/nodes/self", { method: "DELETE", token: back.token });
      await call("/v1/nodes/self", { method: "DELETE", token: other.token });
    }
  });

  it("a node that deregisters leaves its networks, and the member count follows", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];
    await join(a, net.network_id, net.join!.token);
    await join(b, net.network_id, net.join!.token);
    expect((await call("/v1/nodes/self", { method: "DELETE", token: b.token })).status).toBe(204);
    expect(((await (await asPerson(owner, `/v1/networks/${net.network_id}`)).json()) as Network).members).toBe(1);
    expect(await memberIds(owner, net.network_id)).toEqual([a.nodeId]);
  });
});

describe("token joins", () => {
  it("admit a node with the token at once, and answer a wrong token, an invite-only network and a missing one alike", async () => {
    const owner = await signUp();
    await makePro(owner);
    const net = await createNetwork(owner, { token: "correct-token" });
    const invite = await createNetwork(owner, { join_rule: "invite" });
    const n = await register();
    const wrong = await join(n, net.network_id, "wrong-token");
    const inviteOnly = await join(n, invite.network_id, "correct-token");
    const missing = await join(n, 65000, "correct-token");
    const bodies = [await wrong.text(), await inviteOnly.text(), await missing.text()];
    expect([wrong.status, inviteOnly.status, missing.status]).toEqual([403, 403, 403]);
    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0]!).error.code).toBe("join_denied");

    const ok = await join(n, net.network_id, "correct-token");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ network_id: net.network_id, address: formatAddress({ network: net.network_id, node: n.nodeId }) });
    expect((await join(n, net.network_id, "correct-token")).status).toBe(200);
    expect(((await (await asPerson(owner, `/v1/networks/${net.network_id}`)).json()) as Network).members).toBe(1);
  });

  it("rotation invalidates the old token at once", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const rotated = (await (await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} })).json()) as Network;
    expect(rotated.join!.token).not.toBe(net.join!.token);
    const n = await register();
    expect((await join(n, net.network_id, net.join!.token)).status).toBe(403);
    expect((await join(n, net.network_id, rotated.join!.token)).status).toBe(200);
    const custom = (await (await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: { token: "hand-picked" } })).json()) as Network;
    expect(custom.join!.token).toBe("hand-picked");
    expect(await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: { token: "short" } }))).toMatchObject({ status: 400 });
  });

  it("stop at the plan's quota: twenty concurrent joins into a network with room for five admit exactly five", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const nodes = await Promise.all(Array.from({ length: 20 }, () => register()));
    const replies = await Promise.all(nodes.map((n) => join(n, net.network_id, net.join!.token)));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 403)).toHaveLength(15);
    expect(await errorOf(replies.find((r) => r.status === 403)!)).toMatchObject({ code: "plan_limit" });
    expect((await memberIds(owner, net.network_id)).length).toBe(5);
    expect(((await (await asPerson(owner, `/v1/networks/${net.network_id}`)).json()) as Network).members).toBe(5);
  });

  it("throttle a guessing storm per network, even against the right token, and per node", { timeout: 30_000 }, async () => {
    await awaitFreshRateWindow();
    const owner = await signUp();
    const net = await createNetwork(owner, { token: "weak-pass-1" });
    const guessers = await Promise.all(Array.from({ length: 3 }, () => register()));
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await join(guessers[i % 3]!, net.network_id, `guess-${i}-xx`)).status);
    expect(statuses.slice(0, 20).every((s) => s === 403)).toBe(true);
    expect(statuses[20]).toBe(429);
    expect(await errorOf(await join(await register(), net.network_id, "weak-pass-1"))).toMatchObject({ status: 429, code: "rate_limited" });

    const other = await createNetwork(await signUp());
    const lone = await register();
    const own: number[] = [];
    for (let i = 0; i < 11; i++) own.push((await join(lone, other.network_id, `nope-${i}-xxx`)).status);
    expect(own.slice(0, 10).every((s) => s === 403)).toBe(true);
    expect(own[10]).toBe(429);
  });

  it.each([["an empty token", { token: "" }], ["no token", {}], ["a number", { token: 12345678 }], ["an extra field", { token: "abcdefgh", x: 1 }]])(
    "refuse %s",
    async (_, body) => {
      const n = await register();
      expect(await errorOf(await call("/v1/networks/1/join", { body, token: n.token }))).toMatchObject({ status: 400, code: "invalid_request" });
    },
  );

  it.each([["0"], ["65536"], ["abc"], ["01"]])("refuse network ID %s", async (id) => {
    const n = await register();
    expect((await call(`/v1/networks/${id}/join`, { body: { token: "abcdefgh" }, token: n.token })).status).toBe(400);
  });
});

describe("the join page", () => {
  it("explains how to join without the token reaching the server, and looks the same for any network", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const url = new URL(net.join!.url);
    expect(url.hash).toContain(net.join!.token);
    const page = await call(url.pathname + url.search);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const text = await page.text();
    expect(text).toContain(`pilotctl join-network ${net.network_id}`);
    // An agent on another machine learns which registry its daemon must use.
    expect(text).toContain("pilotctl daemon start --registry http://registry.test");
    expect(text).not.toContain(net.join!.token);
    expect(text).not.toContain(net.name);
    const other = await (await call("/join/65001")).text();
    // Where the page names the network (never elsewhere: a small ID also appears in the styles).
    const unnamed = (page: string, id: number) => page.replace(new RegExp(`(network |join-network )${id}\\b`, "g"), "$1N");
    expect(unnamed(other, 65001)).toBe(unnamed(text, net.network_id));
    // Reached as localhost, the page says what an agent on another machine needs instead.
    expect(text).not.toContain("HOST=0.0.0.0");
    const local = await (await exports.default.fetch(new Request(`http://localhost:8787${url.pathname}`))).text();
    expect(local).toContain("pilotctl daemon start --registry http://localhost:8787");
    expect(local).toContain("HOST=0.0.0.0 npm start");
    expect((await call("/join/0")).status).toBe(404);
    expect((await call("/join/99999")).status).toBe(404);
  });
});

describe("the audit log", () => {
  it("records who did what to whom, for the owner only", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const a = await enrolledNode(owner);
    const b = await register();
    await addMember(owner, net.network_id, a.nodeId);
    await join(b, net.network_id, net.join!.token);
    await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" });
    await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} });
    const log = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).json()) as {
      entries: { action: string; actor: { type: string; id: number }; target_node_id: number | null }[];
    };
    expect(log.entries.map((e) => [e.action, e.actor.type, e.target_node_id])).toEqual([
      ["token_rotated", "account", null],
      ["member_removed", "account", b.nodeId],
      ["member_joined", "node", b.nodeId],
      ["member_added", "account", a.nodeId],
      ["network_created", "account", null],
    ]);
    const paged = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit?limit=2`)).json()) as { entries: unknown[]; next_cursor: string };
    expect(paged.entries).toHaveLength(2);
    const rest = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit?cursor=${paged.next_cursor}`)).json()) as { entries: { action: string }[] };
    expect(rest.entries.map((e) => e.action)).toEqual(["member_joined", "member_added", "network_created"]);
    expect((await call(`/v1/networks/${net.network_id}/audit`, { token: a.token })).status).toBe(401);
  });
});

describe("generated join tokens", () => {
  it("never start with a dash, which a command line would take for an option", () => {
    const tokens = Array.from({ length: 5000 }, () => generateJoinToken());
    expect(tokens.filter((t) => t.startsWith("-"))).toEqual([]);
    expect(tokens.every((t) => /^[A-Za-z0-9_-]{32}$/.test(t))).toBe(true);
    expect(new Set(tokens).size).toBe(tokens.length);
  });
});
