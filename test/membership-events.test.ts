/**
 * A node's memberships and invitations reach it over its own channel: live when it is connected,
 * queued when it is not, in the order they were made.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { formatAddress, MEMBERSHIP_EVENTS, type NodeEvent } from "@pilot/protocol";
import { networkHub } from "../worker/networks/hub.ts";
import { nodeHub } from "../worker/nodes/hub.ts";
import { INBOX_LIMIT } from "../worker/nodes/inbox.ts";
import { addMember, asPerson, awaitFreshRateWindow, call, createNetwork, enrolledNode, errorOf, join, openNodeChannel, register, signUp } from "./helpers.ts";

type Inbox = Awaited<ReturnType<typeof openNodeChannel>>;

const KINDS = new Set<string>(MEMBERSHIP_EVENTS);

/** The first `count` membership events in an inbox, in the order they arrived, without their sequence numbers. */
async function membershipEvents(inbox: Inbox, count: number) {
  const mine = () => inbox.events.filter((e) => KINDS.has(e.type));
  for (const deadline = Date.now() + 15_000; mine().length < count; await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error(`expected ${count} membership events, got ${JSON.stringify(inbox.events)}`);
  }
  return mine()
    .slice(0, count)
    .map((e) => {
      const { seq: _, ...rest } = e as NodeEvent & { seq: number };
      return rest;
    });
}

/** The types of the events queued in a node's inbox, oldest first. */
const inboxTypes = (nodeId: number) =>
  runInDurableObject(nodeHub(env, nodeId), (_hub, state) =>
    state.storage.sql.exec<{ type: string }>("SELECT json_extract(event, '$.type') AS type FROM inbox ORDER BY seq").toArray().map((r) => r.type),
  );

/** Waits until a node's inbox has assigned `count` sequence numbers: every delivery so far has landed. */
async function queued(nodeId: number, count: number): Promise<void> {
  const lastSeq = () =>
    runInDurableObject(nodeHub(env, nodeId), (_hub, state) => state.storage.sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").toArray()[0]?.seq ?? 0);
  for (const deadline = Date.now() + 15_000; (await lastSeq()) < count; await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error(`node ${nodeId}'s inbox did not reach ${count} events`);
  }
}

const remove = (owner: Awaited<ReturnType<typeof signUp>>, networkId: number, nodeId: number) =>
  asPerson(owner, `/v1/networks/${networkId}/members/${nodeId}`, { method: "DELETE" });

describe("membership events on the node's own channel", () => {
  it("tells a connected node at once that its owner added it, removed it and added it again, in that order", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { name: "live-adds" });
    const node = await enrolledNode(owner);
    const inbox = await openNodeChannel(node);
    await inbox.next("hello");
    expect((await (await addMember(owner, net.network_id, node.nodeId)).json()) as object).toMatchObject({ result: "added" });
    expect((await remove(owner, net.network_id, node.nodeId)).status).toBe(204);
    await addMember(owner, net.network_id, node.nodeId);
    const id = net.network_id;
    expect(await membershipEvents(inbox, 3)).toEqual([
      { type: "network_added", network_id: id, name: "live-adds", how: "added" },
      { type: "network_removed", network_id: id, reason: "removed" },
      { type: "network_added", network_id: id, name: "live-adds", how: "added" },
    ]);
    inbox.ws.close();
  });

  it("queues changes made while the node was offline and delivers them when it connects", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const node = await enrolledNode(owner);
    await addMember(owner, net.network_id, node.nodeId);
    await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} });
    const inbox = await openNodeChannel(node);
    await inbox.next("hello");
    expect(await membershipEvents(inbox, 2)).toEqual([
      { type: "network_added", network_id: net.network_id, name: net.name, how: "added" },
      { type: "join_token_rotated", network_id: net.network_id },
    ]);
    inbox.ws.close();
  });

  it("tells a node of its own joins, accepted invitations and leaves", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const node = await register();
    const inbox = await openNodeChannel(node);
    await inbox.next("hello");
    expect((await join(node, net.network_id, net.join!.token)).status).toBe(200);
    expect((await call(`/v1/networks/${net.network_id}/leave`, { body: {}, token: node.token })).status).toBe(204);
    await addMember(owner, net.network_id, node.nodeId);
    expect((await call(`/v1/invitations/${net.network_id}/accept`, { body: {}, token: node.token })).status).toBe(200);
    const id = net.network_id;
    expect(await membershipEvents(inbox, 4)).toEqual([
      { type: "network_added", network_id: id, name: net.name, how: "joined" },
      { type: "network_removed", network_id: id, reason: "left" },
      { type: "invitation_received", network_id: id, name: net.name, expires_at: expect.any(String) },
      { type: "network_added", network_id: id, name: net.name, how: "invitation_accepted" },
    ]);
    inbox.ws.close();
  });

  it("tells every member and every invitee when the network is deleted", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    const stranger = await register();
    for (const n of [a, b]) await addMember(owner, net.network_id, n.nodeId);
    await addMember(owner, net.network_id, stranger.nodeId);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" })).status).toBe(204);
    // The removal replaced the add still queued for each of them, and the end the invitation.
    for (const n of [a, b]) {
      await queued(n.nodeId, 2);
      const inbox = await openNodeChannel(n);
      expect(await membershipEvents(inbox, 1)).toEqual([{ type: "network_removed", network_id: net.network_id, reason: "deleted" }]);
      inbox.ws.close();
    }
    await queued(stranger.nodeId, 2);
    const inbox = await openNodeChannel(stranger);
    expect(await membershipEvents(inbox, 1)).toEqual([{ type: "invitation_ended", network_id: net.network_id, reason: "deleted" }]);
    inbox.ws.close();
  });

  it("tells nothing to a deregistered node's inbox, which a re-registration with the same key finds empty", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const node = await enrolledNode(owner);
    await addMember(owner, net.network_id, node.nodeId);
    expect((await call("/v1/nodes/self", { method: "DELETE", token: node.token })).status).toBe(204);
    const again = await register(node);
    expect(again.nodeId).toBe(node.nodeId);
    const inbox = await openNodeChannel(again);
    await inbox.next("hello");
    // A handshake sent now is the first thing in the inbox: nothing about the old membership precedes it.
    const peer = await register();
    await call("/v1/handshakes", { body: { target: String(again.nodeId), justification: "after" }, token: peer.token });
    await inbox.next("handshake_request");
    expect(inbox.events.filter((e) => e.type.startsWith("network_"))).toEqual([]);
    inbox.ws.close();
  });
});

describe("invitations on the node's own channel", () => {
  it("announces an invitation and its withdrawal, and the owner's answers and audit say nothing of whether the node exists", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const node = await register();
    const inbox = await openNodeChannel(node);
    await inbox.next("hello");
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `invitee-${node.nodeId}` }, token: node.token });
    const name = `invitee-${node.nodeId}`;
    expect(await (await addMember(owner, net.network_id, name)).json()).toMatchObject({ result: "invited" });
    const invited = await inbox.next("invitation_received");
    expect(invited).toMatchObject({ network_id: net.network_id, name: net.name });
    expect(Date.parse(invited.expires_at)).toBeGreaterThan(Date.now() + 6 * 86_400_000);

    const withdrawn = await asPerson(owner, `/v1/networks/${net.network_id}/invitations/${name}`, { method: "DELETE" });
    const nobody = await asPerson(owner, `/v1/networks/${net.network_id}/invitations/no-such-node`, { method: "DELETE" });
    expect([withdrawn.status, nobody.status]).toEqual([204, 204]);
    expect([await withdrawn.text(), await nobody.text()]).toEqual(["", ""]);
    expect(await inbox.next("invitation_ended")).toMatchObject({ network_id: net.network_id, reason: "withdrawn" });
    const audit = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).json()) as { entries: { action: string; target_name: string | null; target_node_id: number | null }[] };
    expect(audit.entries.slice(0, 2).map((e) => [e.action, e.target_name, e.target_node_id])).toEqual([
      ["invitation_withdrawn", "no-such-node", null],
      ["invitation_withdrawn", name, null],
    ]);
    // The invitation is gone: accepting fails, and the node's list is empty.
    expect(await errorOf(await call(`/v1/invitations/${net.network_id}/accept`, { body: {}, token: node.token }))).toMatchObject({
      status: 404,
      code: "invitation_not_found",
    });
    inbox.ws.close();
  });

  it("refuses a withdrawal with a bad name or for someone else's network, changing nothing", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const node = await register();
    await addMember(owner, net.network_id, node.nodeId);
    for (const bad of ["Not_A_Name", "-x", "0:0000.0000.00zz", "a".repeat(81)]) {
      const res = await asPerson(owner, `/v1/networks/${net.network_id}/invitations/${encodeURIComponent(bad)}`, { method: "DELETE" });
      expect((await errorOf(res)).code, bad).toMatch(/^(invalid_target|invalid_request)$/);
    }
    const other = await signUp();
    const foreign = await asPerson(other, `/v1/networks/${net.network_id}/invitations/${node.nodeId}`, { method: "DELETE" });
    expect(await errorOf(foreign)).toMatchObject({ status: 404, code: "network_not_found" });
    const list = (await (await call("/v1/invitations", { token: node.token })).json()) as { invitations: unknown[] };
    expect(list.invitations).toHaveLength(1);
  });

  it("ends an invitation at its expiry and tells the invited node", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const node = await register();
    const inbox = await openNodeChannel(node);
    await inbox.next("hello");
    await addMember(owner, net.network_id, node.nodeId);
    await inbox.next("invitation_received");
    await env.DB.prepare("UPDATE invitations SET expires_at = ? WHERE network_id = ?").bind(Date.now() - 1, net.network_id).run();
    expect(await runDurableObjectAlarm(networkHub(env, net.network_id))).toBe(true);
    expect(await inbox.next("invitation_ended")).toMatchObject({ network_id: net.network_id, reason: "expired" });
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM invitations WHERE network_id = ?").bind(net.network_id).first<{ n: number }>();
    expect(row?.n).toBe(0);
    inbox.ws.close();
  });

  it("tells a node of an invitation once while it is open, and keeps one invitation event per network queued", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const node = await register();
    // Offline: invited, withdrawn and invited again, many times; its inbox keeps only the latest.
    for (let i = 0; i < 5; i++) {
      await addMember(owner, net.network_id, node.nodeId);
      await addMember(owner, net.network_id, node.nodeId);
      await asPerson(owner, `/v1/networks/${net.network_id}/invitations/${node.nodeId}`, { method: "DELETE" });
    }
    await addMember(owner, net.network_id, node.nodeId);
    const peer = await register();
    await call("/v1/handshakes", { body: { target: String(node.nodeId), justification: "still here" }, token: peer.token });
    // Eleven invitation events were queued (the second invite of each round told nothing); one is left.
    await queued(node.nodeId, 12);
    expect(await inboxTypes(node.nodeId)).toEqual(["invitation_received", "handshake_request"]);
    const inbox = await openNodeChannel(node);
    expect((await inbox.next("hello")).truncated).toBe(false);
    await inbox.next("handshake_request");
    expect(await membershipEvents(inbox, 1)).toEqual([{ type: "invitation_received", network_id: net.network_id, name: net.name, expires_at: expect.any(String) }]);
    inbox.ws.close();
  });

  it("withdraws an invitation by the name it was made with, after the node renamed", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const node = await register();
    const first = `first-${node.nodeId}`;
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: first }, token: node.token });
    await addMember(owner, net.network_id, first);
    await call("/v1/nodes/self", { method: "PATCH", body: { hostname: `second-${node.nodeId}` }, token: node.token });
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/invitations/${first}`, { method: "DELETE" })).status).toBe(204);
    const list = (await (await call("/v1/invitations", { token: node.token })).json()) as { invitations: unknown[] };
    expect(list.invitations).toEqual([]);
  });

  it("refuses an address from another network when inviting or withdrawing, and the broadcast ID", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { join_rule: "invite" });
    const node = await register();
    const other = net.network_id === 8 ? 9 : 8;
    const foreign = formatAddress({ network: other, node: node.nodeId });
    // Which network an address may be in depends on the path: beyond the schema, so 422.
    expect(await errorOf(await addMember(owner, net.network_id, foreign))).toMatchObject({ status: 422, code: "invalid_target" });
    const withdrawn = await asPerson(owner, `/v1/networks/${net.network_id}/invitations/${foreign}`, { method: "DELETE" });
    expect(await errorOf(withdrawn)).toMatchObject({ status: 422, code: "invalid_target" });
    expect(await errorOf(await addMember(owner, net.network_id, "4294967295"))).toMatchObject({ status: 400, code: "invalid_target" });
    // Its backbone address and its address in this network both name it.
    for (const address of [formatAddress({ network: 0, node: node.nodeId }), formatAddress({ network: net.network_id, node: node.nodeId })]) {
      expect(await (await addMember(owner, net.network_id, address)).json()).toMatchObject({ result: "invited" });
    }
    const list = (await (await call("/v1/invitations", { token: node.token })).json()) as { invitations: unknown[] };
    expect(list.invitations).toHaveLength(1);
  });

  it("limits an account's invitations, withdrawals and token rotations to 60 a minute, whoever they name", async () => {
    await awaitFreshRateWindow();
    const owner = await signUp();
    const net = await createNetwork(owner);
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      const res =
        i % 3 === 0
          ? await addMember(owner, net.network_id, `nobody-${i}`)
          : i % 3 === 1
            ? await asPerson(owner, `/v1/networks/${net.network_id}/invitations/nobody-${i}`, { method: "DELETE" })
            : await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 60).every((s) => s === 200 || s === 204)).toBe(true);
    expect(statuses[60]).toBe(429);
    expect(await errorOf(await addMember(owner, net.network_id, "someone"))).toMatchObject({ status: 429, code: "rate_limited" });
    // Adding the account's own agents is not an invitation, and is not limited.
    const mine = await enrolledNode(owner);
    expect(await (await addMember(owner, net.network_id, mine.nodeId)).json()).toMatchObject({ result: "added" });
  });

  it("keeps a queued handshake request through a flood of more invitation events than the inbox holds", async () => {
    const node = await register();
    const peer = await register();
    await call("/v1/handshakes", { body: { target: String(node.nodeId), justification: "before the flood" }, token: peer.token });
    await queued(node.nodeId, 1);
    const hub = nodeHub(env, node.nodeId);
    for (let i = 0; i < INBOX_LIMIT + 100; i++) {
      await hub.deliver(i % 2 ? { type: "invitation_ended", network_id: 7, reason: "withdrawn" } : { type: "invitation_received", network_id: 7, name: "flood", expires_at: new Date().toISOString() });
    }
    expect(await inboxTypes(node.nodeId)).toEqual(["handshake_request", "invitation_ended"]);
    const inbox = await openNodeChannel(node);
    expect(await inbox.next("hello")).toMatchObject({ truncated: false });
    expect(await inbox.next("handshake_request")).toMatchObject({ node_id: peer.nodeId, justification: "before the flood" });
    inbox.ws.close();
  });
});
