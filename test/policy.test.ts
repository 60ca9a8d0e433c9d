/** Tags and port policies: the owner's routes, a node's requested tags, and the live push. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { MAX_RULES, MAX_TAGS, type AuditPage as AuditPageSchema, type Member, type MemberPage, type Policy, type Rule } from "@pilot/protocol";
import { addMember, asPerson, call, createNetwork, enrolledNode, errorOf, openChannel, register, signUp, type Person, type Registered } from "./helpers.ts";

const rule = (from: string, to: string, ports: Rule["ports"], protocols: Rule["protocols"] = ["stream"]): Rule => ({ from, to, ports, protocols });

async function networkOf(count: number) {
  const owner = await signUp();
  const net = await createNetwork(owner, { join_rule: "invite" });
  const nodes: Registered[] = [];
  for (let i = 0; i < count; i++) {
    const n = await enrolledNode(owner);
    expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
    nodes.push(n);
  }
  return { owner, id: net.network_id, nodes };
}

const getPolicy = (owner: Person, id: number) => asPerson(owner, `/v1/networks/${id}/policy`);
const putPolicy = (owner: Person, id: number, body: unknown) => asPerson(owner, `/v1/networks/${id}/policy`, { method: "PUT", body });
const tagMember = (owner: Person, id: number, node: number, tags: unknown) =>
  asPerson(owner, `/v1/networks/${id}/members/${node}/tags`, { method: "PUT", body: { tags } });
const check = (owner: Person, id: number, body: unknown) => asPerson(owner, `/v1/networks/${id}/policy/check`, { body });
const requestTags = (n: Registered, tags: unknown) => call("/v1/nodes/self/tags", { method: "PUT", body: { tags }, token: n.token });
const audit = async (owner: Person, id: number) => ((await (await asPerson(owner, `/v1/networks/${id}/audit`)).json()) as z.infer<typeof AuditPageSchema>).entries;

describe("a network's port policy", () => {
  it("starts empty, is replaced whole, logged, and pushed to members with their tags", async () => {
    const { owner, id, nodes: [a, b] } = await networkOf(2);
    expect(await (await getPolicy(owner, id)).json()).toEqual({ network_id: id, self_tagging: false, rules: [], revision: 0 });
    const channel = await openChannel(a!, id);
    await channel.next("hello");
    const rules = [rule("frontend", "api", [80, 443, [8000, 8999]], ["stream", "datagram"]), rule("*", "ops", [22])];
    const res = await putPolicy(owner, id, { self_tagging: true, rules });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ network_id: id, self_tagging: true, rules, revision: 1 } satisfies Policy);
    expect(await channel.next("policy_updated")).toEqual({
      type: "policy_updated",
      network_id: id,
      revision: 1,
      self_tagging: true,
      rules,
      tags: { [a!.nodeId]: [], [b!.nodeId]: [] },
    });
    expect((await audit(owner, id))[0]).toMatchObject({ action: "policy_changed", actor: { type: "account", id: owner.accountId } });
    // A rule may name a tag nobody carries yet; an empty rule list goes back to "every port".
    expect((await putPolicy(owner, id, { self_tagging: false, rules: [] })).status).toBe(200);
    expect(await (await getPolicy(owner, id)).json()).toMatchObject({ rules: [], revision: 2 });
    channel.ws.close();
  });

  it("refuses malformed policies with invalid_request, too many rules with policy_too_large, and changes nothing", async () => {
    const { owner, id } = await networkOf(0);
    const good = rule("a", "b", [1]);
    expect((await putPolicy(owner, id, { self_tagging: false, rules: [good] })).status).toBe(200);
    for (const rules of [
      [rule("a", "b", [0])],
      [rule("a", "b", [65536])],
      [rule("a", "b", [[100, 99]])],
      [rule("a", "b", [[0, 5]])],
      [rule("Frontend", "b", [1])],
      [rule("a", "b_c", [1])],
      [rule("a", "b", [1], ["stream", "stream"])],
      [rule("a", "b", [1], [])],
      [rule("a", "b", [])],
      [{ ...good, protocols: ["tcp"] }],
      [{ ...good, extra: true }],
      [good, { from: "a", to: "b" }],
    ]) {
      const res = await putPolicy(owner, id, { self_tagging: false, rules });
      expect((await errorOf(res)).code, JSON.stringify(rules)).toBe("invalid_request");
    }
    expect((await errorOf(await putPolicy(owner, id, { rules: [] }))).code).toBe("invalid_request");
    const tooMany = Array.from({ length: MAX_RULES + 1 }, () => rule("a", "b", [1]));
    const over = await errorOf(await putPolicy(owner, id, { self_tagging: false, rules: tooMany }));
    expect(over).toMatchObject({ status: 400, code: "policy_too_large" });
    expect(over.message).toContain("256");
    expect(await (await getPolicy(owner, id)).json()).toEqual({ network_id: id, self_tagging: false, rules: [good], revision: 1 });
    expect((await putPolicy(owner, id, { self_tagging: false, rules: tooMany.slice(1) })).status).toBe(200);
  });
});

describe("members' tags", () => {
  it("are set by the owner, shown in the member list, logged and pushed", async () => {
    const { owner, id, nodes: [a, b] } = await networkOf(2);
    const channel = await openChannel(b!, id);
    await channel.next("hello");
    const res = await tagMember(owner, id, a!.nodeId, ["web", "frontend"]);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ node_id: a!.nodeId, tags: ["frontend", "web"], requested_tags: [], effective_tags: ["frontend", "web"] } satisfies Partial<Member>);
    expect(await channel.next("policy_updated")).toMatchObject({ revision: 1, tags: { [a!.nodeId]: ["frontend", "web"], [b!.nodeId]: [] } });
    const page = (await (await call(`/v1/networks/${id}/members`, { token: b!.token })).json()) as MemberPage;
    expect(page.members.find((m) => m.node_id === a!.nodeId)).toMatchObject({ tags: ["frontend", "web"], effective_tags: ["frontend", "web"] });
    expect((await audit(owner, id))[0]).toMatchObject({ action: "member_tagged", target_node_id: a!.nodeId });
    expect(await (await tagMember(owner, id, a!.nodeId, [])).json()).toMatchObject({ tags: [], effective_tags: [] });
    channel.ws.close();
  });

  it("refuse bad tags and non-members, changing nothing", async () => {
    const { owner, id, nodes: [a] } = await networkOf(1);
    expect((await tagMember(owner, id, a!.nodeId, ["api"])).status).toBe(200);
    const tooMany = Array.from({ length: MAX_TAGS + 1 }, (_, i) => `t${i}`);
    for (const tags of [["API"], ["-x"], ["x-"], ["a".repeat(33)], [""], ["a", "a"], tooMany, "api", [7]]) {
      expect((await errorOf(await tagMember(owner, id, a!.nodeId, tags))).code, JSON.stringify(tags)).toBe("invalid_request");
    }
    const outsider = await enrolledNode(owner);
    expect(await errorOf(await tagMember(owner, id, outsider.nodeId, ["api"]))).toMatchObject({ status: 404, code: "not_member" });
    expect(await (await getPolicy(owner, id)).json()).toMatchObject({ revision: 1 });
    const page = (await (await asPerson(owner, `/v1/networks/${id}/members`)).json()) as MemberPage;
    expect(page.members.map((m) => m.tags)).toEqual([["api"]]);
  });

  it("a node requests for itself count only where the owner allows self-tagging", async () => {
    const { owner, id, nodes: [a, b] } = await networkOf(2);
    await tagMember(owner, id, a!.nodeId, ["web"]);
    const channel = await openChannel(b!, id);
    await channel.next("hello");
    const res = await requestTags(a!, ["api", "web"]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ tags: ["api", "web"] });
    const member = async () =>
      ((await (await asPerson(owner, `/v1/networks/${id}/members`)).json()) as MemberPage).members.find((m) => m.node_id === a!.nodeId)!;
    expect(await member()).toMatchObject({ tags: ["web"], requested_tags: ["api", "web"], effective_tags: ["web"] });
    await putPolicy(owner, id, { self_tagging: true, rules: [] });
    expect((await channel.next("policy_updated")).tags[a!.nodeId]).toEqual(["api", "web"]);
    expect(await member()).toMatchObject({ effective_tags: ["api", "web"] });
    // Now a request of its own is pushed at once, and logged as the node's doing.
    await requestTags(a!, []);
    expect((await channel.next("policy_updated")).tags[a!.nodeId]).toEqual(["web"]);
    expect((await audit(owner, id))[0]).toMatchObject({ action: "member_tagged", actor: { type: "node", id: a!.nodeId } });
    for (const tags of [["Bad"], ["a", "a"], null]) expect((await errorOf(await requestTags(a!, tags))).code).toBe("invalid_request");
    expect(await member()).toMatchObject({ requested_tags: [] });
    channel.ws.close();
  });

  it("ride in the channel's greeting with the policy, so a channel in sync always has it", async () => {
    const { owner, id, nodes: [a, b] } = await networkOf(2);
    const rules = [rule("web", "api", [80])];
    await putPolicy(owner, id, { self_tagging: false, rules });
    await tagMember(owner, id, b!.nodeId, ["api"]);
    const channel = await openChannel(a!, id);
    expect((await channel.next("hello")).policy).toEqual({ revision: 2, self_tagging: false, rules, tags: { [a!.nodeId]: [], [b!.nodeId]: ["api"] } });
    channel.ws.close();
  });

  it("each greeting carries the state D1 holds after every kind of change, never one the network's object kept from before it", async () => {
    const { owner, id, nodes: [a, b] } = await networkOf(2);
    const greeting = async () => {
      const channel = await openChannel(a!, id);
      const { policy } = await channel.next("hello");
      channel.ws.close();
      return policy;
    };
    const operator = { authorization: `Bearer ${env.OPERATOR_TOKEN}` };
    expect((await greeting()).tags).toEqual({ [a!.nodeId]: [], [b!.nodeId]: [] });
    await tagMember(owner, id, b!.nodeId, ["api"]);
    expect((await greeting()).tags).toEqual({ [a!.nodeId]: [], [b!.nodeId]: ["api"] });
    const rules = [rule("web", "api", [80])];
    await putPolicy(owner, id, { self_tagging: true, rules });
    expect(await greeting()).toMatchObject({ rules, self_tagging: true });
    await requestTags(b!, ["db"]);
    expect((await greeting()).tags[b!.nodeId]).toEqual(["api", "db"]);
    const c = await enrolledNode(owner);
    await addMember(owner, id, c.nodeId);
    expect(Object.keys((await greeting()).tags)).toContain(String(c.nodeId));
    expect((await call(`/v1/admin/nodes/${b!.nodeId}/suspend`, { body: {}, headers: operator })).status).toBe(200);
    expect(Object.keys((await greeting()).tags)).not.toContain(String(b!.nodeId));
    expect((await call(`/v1/admin/nodes/${b!.nodeId}/restore`, { body: {}, headers: operator })).status).toBe(200);
    expect((await greeting()).tags[b!.nodeId]).toEqual(["api", "db"]);
    await asPerson(owner, `/v1/networks/${id}/members/${c.nodeId}`, { method: "DELETE" });
    expect(Object.keys((await greeting()).tags)).not.toContain(String(c.nodeId));
  });
});

describe("the owner's policy check", () => {
  it("answers by rule for members named any way, and not_member alike for outsiders and missing names", async () => {
    const { owner, id, nodes: [web, api] } = await networkOf(2);
    await tagMember(owner, id, web!.nodeId, ["web"]);
    await tagMember(owner, id, api!.nodeId, ["api"]);
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `api-${api!.nodeId}` }, token: api!.token });
    const ask = async (body: object) => (await check(owner, id, { from: String(web!.nodeId), to: String(api!.nodeId), port: 80, protocol: "stream", ...body })).json();
    expect(await ask({})).toEqual({ allowed: true, rule: null, reason: "no_policy" });
    await putPolicy(owner, id, { self_tagging: false, rules: [rule("ops", "api", [22]), rule("web", "api", [80, 443])] });
    expect(await ask({ to: `api-${api!.nodeId}` })).toEqual({ allowed: true, rule: 1, reason: "rule" });
    expect(await ask({ port: 81 })).toEqual({ allowed: false, rule: null, reason: "no_rule" });
    expect(await ask({ protocol: "datagram" })).toEqual({ allowed: false, rule: null, reason: "no_rule" });
    expect(await ask({ from: String(api!.nodeId), to: String(web!.nodeId) })).toEqual({ allowed: false, rule: null, reason: "no_rule" });
    const outsider = await register();
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `out-${outsider.nodeId}` }, token: outsider.token });
    const outside = await (await check(owner, id, { from: `out-${outsider.nodeId}`, to: String(api!.nodeId), port: 80, protocol: "stream" })).json();
    const missing = await (await check(owner, id, { from: `out-${outsider.nodeId}x`, to: String(api!.nodeId), port: 80, protocol: "stream" })).json();
    expect(outside).toMatchObject({ error: { code: "not_member" } });
    expect((missing as { error: { code: string } }).error.code).toBe("not_member");
    for (const bad of [{ port: 0 }, { port: 65536 }, { protocol: "tcp" }, { from: "" }]) {
      expect((await errorOf(await check(owner, id, { from: "1", to: "2", port: 80, protocol: "stream", ...bad }))).code).toMatch(/invalid_(request|target)/);
    }
  });
});
