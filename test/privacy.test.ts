/**
 * The privacy gate (docs/security.md), tried from every side. Memberships and trust pairs are
 * seeded straight into D1, so each case sets up only the relation it tries.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { formatAddress, type ResolvedNode, type RevocationList } from "@pilot/protocol";
import { addMember, asPerson, call, createNetwork, enrolledNode, join, register, signUp, type Registered } from "./helpers.ts";

const resolve = (n: Registered, target: string | number) => call(`/v1/resolve/${encodeURIComponent(String(target))}`, { token: n.token });
const setHostname = (n: Registered, hostname: string) =>
  call("/v1/nodes/self", { method: "PATCH", body: { hostname }, token: n.token });

/** A network made directly in D1, after any the API made (network IDs are allocated upwards). */
async function network(...members: Registered[]): Promise<number> {
  const id = (await env.DB.prepare("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM networks").first<{ id: number }>())!.id;
  const owner = await signUp();
  await env.DB.prepare("INSERT INTO networks (id, account_id, name, join_rule, created_at) VALUES (?, ?, ?, 'invite', ?)")
    .bind(id, owner.accountId, `net-${id}`, Date.now())
    .run();
  await env.DB.batch(
    members.map((m) => env.DB.prepare("INSERT INTO memberships (network_id, node_id, joined_at) VALUES (?, ?, ?)").bind(id, m.nodeId, Date.now())),
  );
  return id;
}
/** A trust pair, without end or ending at `expiresAt`. */
async function trust(a: Registered, b: Registered, expiresAt: number | null = null) {
  await env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at, expires_at) VALUES (?, ?, ?, ?)")
    .bind(Math.min(a.nodeId, b.nodeId), Math.max(a.nodeId, b.nodeId), Date.now(), expiresAt)
    .run();
}

/** Status, headers and body of a reply, for byte-for-byte comparison. */
async function snapshot(res: Response) {
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

let nobody: Awaited<ReturnType<typeof snapshot>>;
let requester: Registered;
beforeAll(async () => {
  requester = await register();
  nobody = await snapshot(await resolve(requester, 4_000_000_000));
});

describe("resolve is private by default", () => {
  it("answers a missing node with a plain 404", () => {
    expect(nobody.status).toBe(404);
    expect(JSON.parse(nobody.body)).toEqual({ error: { code: "not_found", message: "no such node" } });
  });

  it("denies a private node with no relation exactly as if it did not exist, by ID, address and hostname", async () => {
    const target = await register();
    await setHostname(target, "hidden-agent");
    for (const name of [target.nodeId, formatAddress({ network: 0, node: target.nodeId }), "hidden-agent"]) {
      expect(await snapshot(await resolve(requester, name))).toEqual(nobody);
    }
    expect(await snapshot(await resolve(requester, "no-such-agent"))).toEqual(nobody);
  });

  it("denies a node that deregistered, even one that was public", async () => {
    const target = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: target.token });
    await call("/v1/nodes/self", { method: "DELETE", token: target.token });
    expect(await snapshot(await resolve(requester, target.nodeId))).toEqual(nobody);
  });

  it("denies a node whose deregistration stopped half-way, with its trust, memberships and visibility still in place", async () => {
    const target = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: target.token });
    await trust(requester, target);
    await network(requester, target);
    // Only the first step of a deregistration landed: the row is marked, nothing else was cleared.
    await env.DB.prepare("UPDATE nodes SET deregistered_at = ? WHERE id = ?").bind(Date.now(), target.nodeId).run();
    expect(await snapshot(await resolve(requester, target.nodeId))).toEqual(nobody);
  });

  it("denies a node the operator suspended, public, trusted and a co-member, exactly as if it did not exist; and brings it back on restore", async () => {
    const target = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: target.token });
    await setHostname(target, "suspended-agent");
    await trust(requester, target);
    await network(requester, target);
    const operator = { authorization: `Bearer ${env.OPERATOR_TOKEN}` };
    expect((await call(`/v1/admin/nodes/${target.nodeId}/suspend`, { method: "POST", headers: operator })).status).toBe(200);
    for (const name of [target.nodeId, formatAddress({ network: 0, node: target.nodeId }), "suspended-agent"]) {
      expect(await snapshot(await resolve(requester, name))).toEqual(nobody);
    }
    expect((await call(`/v1/admin/nodes/${target.nodeId}/restore`, { method: "POST", headers: operator })).status).toBe(200);
    expect((await resolve(requester, "suspended-agent")).status).toBe(200);
  });

  it("lets a node resolve itself", async () => {
    expect((await resolve(requester, requester.nodeId)).status).toBe(200);
  });
});

describe("request IDs", () => {
  it("tell a stranger nothing: a private node's denial has every header of a missing node's, with a fresh request ID of the same form", async () => {
    const target = await register();
    const headersOf = async (res: Response) => {
      await res.arrayBuffer();
      const { "x-request-id": id, ...rest } = Object.fromEntries(res.headers);
      return { id, rest };
    };
    const denied = await headersOf(await resolve(requester, target.nodeId));
    const missing = await headersOf(await resolve(requester, 4_000_000_001));
    expect(denied.rest).toEqual(missing.rest);
    for (const { id } of [denied, missing]) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(denied.id).not.toBe(missing.id);
  });
});

describe("resolve grants", () => {
  it("a public node to anyone, with its key and endpoints", async () => {
    const target = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true, hostname: "open-agent" }, token: target.token });
    await call("/v1/nodes/self/heartbeat", { body: { endpoint: "203.0.113.9:4000" }, token: target.token });
    for (const name of [target.nodeId, formatAddress({ network: 0, node: target.nodeId }), "open-agent"]) {
      const res = await resolve(requester, name);
      expect(res.status).toBe(200);
      expect((await res.json()) as ResolvedNode).toMatchObject({
        node_id: target.nodeId,
        public_key: target.publicKey,
        hostname: "open-agent",
        endpoint: "203.0.113.9:4000",
        public: true,
        online: true,
      });
    }
  });

  it("a private node to a co-member of a network, and not once the membership is gone", async () => {
    const target = await register();
    const net = await network(requester, target);
    expect((await resolve(requester, target.nodeId)).status).toBe(200);
    expect((await resolve(target, requester.nodeId)).status).toBe(200);
    await env.DB.prepare("DELETE FROM memberships WHERE network_id = ? AND node_id = ?").bind(net, target.nodeId).run();
    expect(await snapshot(await resolve(requester, target.nodeId))).toEqual(nobody);
  });

  it("a private node to a holder of mutual trust, and not once the pair is revoked", async () => {
    const target = await register();
    await trust(requester, target);
    expect((await resolve(requester, target.nodeId)).status).toBe(200);
    expect((await resolve(target, requester.nodeId)).status).toBe(200);
    await env.DB.prepare("DELETE FROM trust_pairs WHERE node_a = ? OR node_b = ?").bind(target.nodeId, target.nodeId).run();
    expect(await snapshot(await resolve(requester, target.nodeId))).toEqual(nobody);
  });

  it("a private node to a holder of time-boxed trust until its end, and from then on exactly nothing, before any sweep", async () => {
    const target = await register();
    await setHostname(target, `boxed-${target.nodeId}`);
    await trust(requester, target, Date.now() + 3_600_000);
    expect((await resolve(requester, target.nodeId)).status).toBe(200);
    await env.DB.prepare("UPDATE trust_pairs SET expires_at = ? WHERE node_b = ? OR node_a = ?").bind(Date.now() - 1, target.nodeId, target.nodeId).run();
    for (const name of [target.nodeId, formatAddress({ network: 0, node: target.nodeId }), `boxed-${target.nodeId}`]) {
      expect(await snapshot(await resolve(requester, name))).toEqual(nobody);
    }
    expect((await resolve(target, requester.nodeId)).status).toBe(404);
  });

  it("the same answer to a TTL under the minimum whether or not the target exists", async () => {
    const target = await register();
    const ask = async (to: number) =>
      snapshot(await call("/v1/handshakes", { body: { target: String(to), justification: "short", ttl_seconds: 59 }, token: requester.token }));
    const [real, missing] = [await ask(target.nodeId), await ask(4_000_000_000)];
    expect(real.status).toBe(422);
    expect(real).toEqual(missing);
  });

  it("nothing for backbone membership alone, which the schema will not even record", async () => {
    const target = await register();
    await expect(
      env.DB.prepare("INSERT INTO memberships (network_id, node_id, joined_at) VALUES (0, ?, 0)").bind(target.nodeId).run(),
    ).rejects.toThrow(/constraint/i);
    expect(await snapshot(await resolve(requester, target.nodeId))).toEqual(nobody);
  });

  it("nothing transitively: A–B in one network and B–C in another do not let A reach C", async () => {
    const [a, b, c] = await Promise.all([register(), register(), register()]);
    await network(a, b);
    await network(b, c);
    expect((await resolve(a, b.nodeId)).status).toBe(200);
    expect((await resolve(b, c.nodeId)).status).toBe(200);
    expect(await snapshot(await resolve(a, c.nodeId))).toEqual(nobody);
    expect(await snapshot(await resolve(c, a.nodeId))).toEqual(nobody);
    // Trust does not chain either.
    const d = await register();
    await trust(c, d);
    expect(await snapshot(await resolve(b, d.nodeId))).toEqual(nobody);
  });

  it("a network address only between members of that network, so it reveals no one's memberships", async () => {
    const [a, b, c, pub] = await Promise.all([register(), register(), register(), register()]);
    await call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: pub.token });
    const net = await network(a, b);
    const elsewhere = await network(b, c, pub);
    expect((await resolve(a, formatAddress({ network: net, node: b.nodeId }))).status).toBe(200);
    // Public, but not in that network: the network address names nobody.
    expect(await snapshot(await resolve(a, formatAddress({ network: net, node: pub.nodeId })))).toEqual(nobody);
    // A can see B and P, but must not learn that they are in a network A is not in.
    expect((await resolve(a, b.nodeId)).status).toBe(200);
    expect((await resolve(a, pub.nodeId)).status).toBe(200);
    expect(await snapshot(await resolve(a, formatAddress({ network: elsewhere, node: b.nodeId })))).toEqual(nobody);
    expect(await snapshot(await resolve(a, formatAddress({ network: elsewhere, node: pub.nodeId })))).toEqual(nobody);
    expect((await resolve(c, formatAddress({ network: elsewhere, node: pub.nodeId }))).status).toBe(200);
  });

  it("the schema refuses a trust pair with oneself or in the wrong order", async () => {
    await expect(
      env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at) VALUES (?, ?, 0)").bind(requester.nodeId, requester.nodeId).run(),
    ).rejects.toThrow(/constraint/i);
    const other = await register();
    await expect(
      env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at) VALUES (?, ?, 0)").bind(other.nodeId, requester.nodeId).run(),
    ).rejects.toThrow(/constraint/i);
  });
});

describe("resolve targets", () => {
  it.each([
    ["node ID 0", "0"],
    ["a node ID past 32 bits", "4294967296"],
    ["a leading zero", "0123"],
    ["a short hex group", "0:0000.0000.3E9"],
    ["an upper-case hostname", "Agent"],
    ["punctuation", "a;b"],
  ])("refuse %s as invalid_target", async (_, target) => {
    const res = await resolve(requester, target);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_target");
  });

  it("refuse the SPEC's broken address, whose hex network is not its decimal one, with 422 invalid_target: the schema cannot state it", async () => {
    const res = await resolve(requester, "1:00A3.F291.0004");
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_target");
  });
});

describe("join links", () => {
  it("show nothing to anyone but the owner: another account gets byte-for-byte the answer of a missing network", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const made = await asPerson(owner, `/v1/networks/${net.network_id}/links`, { body: { label: "mine" } });
    const { link_id } = (await made.json()) as { link_id: number };
    const stranger = await signUp();
    const member = await register();
    expect((await join(member, net.network_id, net.join!.token)).status).toBe(200);
    const routes = (id: number) => [
      asPerson(stranger, `/v1/networks/${id}/links`),
      asPerson(stranger, `/v1/networks/${id}/links`, { body: { label: "theirs" } }),
      asPerson(stranger, `/v1/networks/${id}/links/${link_id}`, { method: "DELETE" }),
      // A member node is no owner: account routes do not take its token at all.
      call(`/v1/networks/${id}/links`, { token: member.token }),
    ];
    const theirs = await Promise.all(routes(net.network_id));
    const missing = await Promise.all(routes(65_000));
    for (const [i, res] of theirs.entries()) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect([res.status, await res.text()]).toEqual([missing[i]!.status, await missing[i]!.text()]);
    }
    // Through a network of its own, another account cannot touch (or learn of) this link either.
    const theirNet = await createNetwork(stranger);
    const viaOwn = await asPerson(stranger, `/v1/networks/${theirNet.network_id}/links/${link_id}`, { method: "DELETE" });
    const nonexistent = await asPerson(stranger, `/v1/networks/${theirNet.network_id}/links/999999`, { method: "DELETE" });
    expect(viaOwn.status).toBe(404);
    expect(await viaOwn.text()).toBe((await nonexistent.text()).replace("999999", String(link_id)));
    const mine = (await (await asPerson(owner, `/v1/networks/${net.network_id}/links`)).json()) as { links: { label: string; state: string }[] };
    expect(mine.links.map((l) => [l.label, l.state])).toEqual([["mine", "live"], ["default", "live"]]);
  });
});

describe("tags and policies", () => {
  it("answer a stranger's account, and a node outside the network, exactly as for a network that does not exist", async () => {
    const member = await register();
    const id = await network(member);
    await env.DB.prepare("UPDATE memberships SET tags = '[\"secret-tag\"]' WHERE network_id = ?").bind(id).run();
    const stranger = await signUp();
    const outsider = await register();
    const missing = 65_000;
    const policy = { self_tagging: true, rules: [{ from: "*", to: "*", ports: [1], protocols: ["stream"] }] };
    const asks = (net: number) => [
      () => asPerson(stranger, `/v1/networks/${net}/policy`),
      () => asPerson(stranger, `/v1/networks/${net}/policy`, { method: "PUT", body: policy }),
      () => asPerson(stranger, `/v1/networks/${net}/policy/check`, { body: { from: String(member.nodeId), to: String(member.nodeId), port: 1, protocol: "stream" } }),
      () => asPerson(stranger, `/v1/networks/${net}/members/${member.nodeId}/tags`, { method: "PUT", body: { tags: ["mine"] } }),
      () => call(`/v1/networks/${net}/members`, { token: outsider.token }),
    ];
    const [there, nowhere] = [asks(id), asks(missing)];
    for (let i = 0; i < there.length; i++) {
      const answer = await snapshot(await there[i]!());
      expect(answer.status).toBe(404);
      expect(answer).toEqual(await snapshot(await nowhere[i]!()));
      expect(answer.body).not.toContain("secret-tag");
    }
    // Nothing the stranger sent changed the network.
    const row = await env.DB.prepare("SELECT policy_revision, policy_rules FROM networks WHERE id = ?").bind(id).first();
    expect(row).toEqual({ policy_revision: 0, policy_rules: "[]" });
  });
});

describe("audit trails are the owner's alone", () => {
  it("another account gets a network's trail, live or deleted, exactly as a network that does not exist", async () => {
    const owner = await signUp();
    const gone = await createNetwork(owner);
    await asPerson(owner, `/v1/networks/${gone.network_id}`, { method: "DELETE" });
    const live = await createNetwork(owner);
    const other = await signUp();
    const missing = await snapshot(await asPerson(other, "/v1/networks/65000/audit"));
    expect(missing.status).toBe(404);
    for (const id of [live.network_id, gone.network_id]) {
      expect((await asPerson(owner, `/v1/networks/${id}/audit`)).status).toBe(200);
      expect(await snapshot(await asPerson(other, `/v1/networks/${id}/audit`))).toEqual(missing);
    }
  });
});

describe("revocation receipts are the owner's alone", () => {
  it("another account, and a member's own token, get a network's revocations exactly as a network that does not exist", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const member = await enrolledNode(owner);
    await addMember(owner, net.network_id, member.nodeId);
    await asPerson(owner, `/v1/networks/${net.network_id}/members/${member.nodeId}`, { method: "DELETE" });
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/revocations`)).status).toBe(200);
    const other = await signUp();
    const missing = await snapshot(await asPerson(other, "/v1/networks/65000/revocations"));
    expect(missing.status).toBe(404);
    expect(await snapshot(await asPerson(other, `/v1/networks/${net.network_id}/revocations`))).toEqual(missing);
    // A node's token is not an account's: members see no revocation list at all.
    expect((await call(`/v1/networks/${net.network_id}/revocations`, { token: member.token })).status).toBe(401);
  });

  it("a policy change's revocation is the owner's and its members' alone: a stranger node gets what a missing one gets", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const member = await enrolledNode(owner);
    await addMember(owner, net.network_id, member.nodeId);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/policy`, { method: "PUT", body: { self_tagging: false, rules: [] } })).status).toBe(200);
    const [changed] = ((await (await asPerson(owner, `/v1/networks/${net.network_id}/revocations`)).json()) as RevocationList).revocations;
    expect(changed).toMatchObject({ kind: "policy", expected: 1 });
    expect((await call(`/v1/revocations/${changed!.revocation_id}`, { token: member.token })).status).toBe(200);
    const stranger = await register();
    const missing = await snapshot(await call("/v1/revocations/rv_AAAAAAAAAAAAAAAAAAAAAA", { token: stranger.token }));
    expect(missing.status).toBe(404);
    expect(await snapshot(await call(`/v1/revocations/${changed!.revocation_id}`, { token: stranger.token }))).toEqual(missing);
    expect(await (await call("/v1/nodes/self/revocations", { token: stranger.token })).json()).toEqual({ revocations: [] });
  });
});
