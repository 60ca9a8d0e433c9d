/**
 * Access that narrows must narrow everywhere: a node removed from a network learns nothing more of
 * it, and a network's port policy cannot be stepped around by trust the network itself approved.
 * Each test was an attack that succeeded before its fix.
 */
import { describe, expect, it } from "vitest";
import { revocationReceiptMessage, type RevocationList } from "@pilot/protocol";
import { addMember, asPerson, call, createNetwork, enrolledNode, register, signUp } from "./helpers.ts";

const CUT_AT = "2026-01-01T00:00:00.000Z";
const snapshot = async (res: Response) => ({ status: res.status, type: res.headers.get("content-type"), body: await res.text() });

describe("a node removed from a network is a non-member from then on", () => {
  it("does not keep watching the network's members confirm (who is online, how many there are) through its removal's revocation", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b, removed] = [await enrolledNode(owner), await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b, removed]) expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${removed.nodeId}`, { method: "DELETE" })).status).toBe(204);
    const [revocation] = ((await (await asPerson(owner, `/v1/networks/${net.network_id}/revocations`)).json()) as RevocationList).revocations;
    const id = revocation!.revocation_id;
    // Member a's daemon confirms (it is online); b's never does (offline).
    const sig = await a.sign(revocationReceiptMessage("http://registry.test", id, a.nodeId, removed.nodeId, CUT_AT));
    expect((await call(`/v1/revocations/${id}/receipts`, { body: { peer: removed.nodeId, cut_at: CUT_AT, signature: sig }, token: a.token })).status).toBe(200);

    const asRemoved = await call(`/v1/revocations/${id}`, { token: removed.token });
    // Before the fix: 200 with expected 3, confirmed 1, pending [b, removed]: the network's size and
    // that b is offline, learnt (and re-learnt on every poll, for as long as it likes) by a non-member.
    const stranger = await register();
    const asStranger = await snapshot(await call(`/v1/revocations/${id}`, { token: stranger.token }));
    expect(await snapshot(asRemoved)).toEqual(asStranger);
  });
});

describe("a network's port policy bounds what its members reach", () => {
  it("is not escaped by a handshake the shared network auto-approves (trust opens every port)", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b]) expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
    // The owner allows members only port 80 of each other.
    const policy = { self_tagging: false, rules: [{ from: "*", to: "*", ports: [80], protocols: ["stream"] }] };
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/policy`, { method: "PUT", body: policy })).status).toBe(200);
    // Member a asks b for trust; b's owner never consents: the network approves it at once.
    const res = await call("/v1/handshakes", { body: { target: String(b.nodeId), justification: "let me in on port 22" }, token: a.token });
    const reply = (await res.json()) as { status: string };
    // Trust grants every port, so an approval here would hand a every port of b the policy withholds.
    expect(reply.status).toBe("sent");
    const trusted = (await (await call("/v1/trust", { token: b.token })).json()) as { trusted: { node_id: number }[] };
    expect(trusted.trusted.map((t) => t.node_id)).not.toContain(a.nodeId);
  });

  it("ends the trust the network approved before it had rules, once it has them", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b, c] = [await enrolledNode(owner), await enrolledNode(owner), await enrolledNode(owner)];
    for (const n of [a, b, c]) expect((await addMember(owner, net.network_id, n.nodeId)).status).toBe(200);
    // Without rules the network approves its members' handshakes at once; c's trust in a is its own.
    const ask = (from: typeof a, to: typeof a) => call("/v1/handshakes", { body: { target: String(to.nodeId), justification: "hi" }, token: from.token });
    expect(((await (await ask(a, b)).json()) as { status: string }).status).toBe("approved");
    const trustedBy = async (n: typeof a) => ((await (await call("/v1/trust", { token: n.token })).json()) as { trusted: { node_id: number }[] }).trusted.map((t) => t.node_id);
    expect(await trustedBy(b)).toEqual([a.nodeId]);
    const policy = { self_tagging: false, rules: [{ from: "*", to: "*", ports: [80], protocols: ["stream"] }] };
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/policy`, { method: "PUT", body: policy })).status).toBe(200);
    expect(await trustedBy(b)).toEqual([]);
    expect(await trustedBy(a)).toEqual([]);
    // An empty policy again does not bring it back, and ends nothing more.
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/policy`, { method: "PUT", body: { self_tagging: false, rules: [] } })).status).toBe(200);
    expect(await trustedBy(b)).toEqual([]);
  });
});
