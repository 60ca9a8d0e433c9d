/**
 * The privacy gate (docs/security.md), tried from every side. Memberships and trust pairs are
 * seeded straight into D1, so each case sets up only the relation it tries.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { formatAddress, type ResolvedNode } from "@pilot/protocol";
import { addMember, asPerson, call, createNetwork, enrolledNode, register, signUp, type Registered } from "./helpers.ts";

const resolve = (n: Registered, target: string | number) => call(`/v1/resolve/${encodeURIComponent(String(target))}`, { token: n.token });
const setHostname = (n: Registered, hostname: string) =>
  call("/v1/nodes/self", { method: "PATCH", body: { hostname }, token: n.token });

let nextNetwork = 1;
async function network(...members: Registered[]): Promise<number> {
  const id = nextNetwork++;
  const owner = await signUp();
  await env.DB.prepare("INSERT INTO networks (id, account_id, name, join_rule, created_at) VALUES (?, ?, ?, 'invite', ?)")
    .bind(id, owner.accountId, `net-${id}`, Date.now())
    .run();
  await env.DB.batch(
    members.map((m) => env.DB.prepare("INSERT INTO memberships (network_id, node_id, joined_at) VALUES (?, ?, ?)").bind(id, m.nodeId, Date.now())),
  );
  return id;
}
async function trust(a: Registered, b: Registered) {
  await env.DB.prepare("INSERT INTO trust_pairs (node_a, node_b, created_at) VALUES (?, ?, ?)")
    .bind(Math.min(a.nodeId, b.nodeId), Math.max(a.nodeId, b.nodeId), Date.now())
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

  it("lets a node resolve itself", async () => {
    expect((await resolve(requester, requester.nodeId)).status).toBe(200);
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
    ["the SPEC's broken address", "1:00A3.F291.0004"],
    ["a short hex group", "0:0000.0000.3E9"],
    ["an upper-case hostname", "Agent"],
    ["punctuation", "a;b"],
  ])("refuse %s as invalid_target", async (_, target) => {
    const res = await resolve(requester, target);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_target");
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
});
