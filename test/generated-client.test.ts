/**
 * A client generated from the served document (openapi-typescript's types, openapi-fetch's calls)
 * drives a whole flow, as an agent's or operator's generated client would: what the document says
 * is what the registry does.
 */
import { exports } from "cloudflare:workers";
import createClient from "openapi-fetch";
import { describe, expect, it } from "vitest";
import type { paths } from "./generated/registry-api.ts";
import { checkDeclared } from "./declared-statuses.ts";
import { freshIp, makeIdentity, ORIGIN, proof } from "./helpers.ts";

/** Every answer the client gets is also held to the document's declared statuses. */
const registry = (headers: Record<string, string> = {}) =>
  createClient<paths>({
    baseUrl: ORIGIN,
    headers: { "cf-connecting-ip": freshIp(), ...headers },
    fetch: async (request: Request) => {
      const res = await exports.default.fetch(request);
      await checkDeclared(request, res);
      return res;
    },
  });

describe("a client generated from /v1/openapi.json", () => {
  it("signs up, makes an API token, creates a network, registers nodes into it, and resolves one from another", async () => {
    const anonymous = registry();
    const signedUp = await anonymous.POST("/v1/accounts", { body: { email: `generated-${crypto.randomUUID()}@example.com`, password: "correct horse battery" } });
    expect(signedUp.response.status).toBe(201);
    const cookie = /pilot_session=[^;]+/.exec(signedUp.response.headers.get("set-cookie") ?? "")![0];
    const person = registry({ cookie, "x-csrf-token": signedUp.data!.csrf_token, origin: ORIGIN });
    const made = await person.POST("/v1/account/tokens", { body: { name: "generated client" } });
    expect(made.data!.name).toBe("generated client");

    const owner = registry({ authorization: `Bearer ${made.data!.token}` });
    const network = await owner.POST("/v1/networks", { body: { name: "generated", join_rule: "invite" } });
    expect(network.response.status).toBe(201);
    const networkId = network.data!.network_id;
    const key = await owner.POST("/v1/account/enrollment-keys", { body: { description: "generated client", reusable: true } });

    const nodes = [];
    for (let i = 0; i < 2; i++) {
      const identity = await makeIdentity();
      const registered = await anonymous.POST("/v1/nodes", { body: { ...(await proof(identity, "register")), enrollment_key: key.data!.key } });
      expect(registered.response.status).toBe(201);
      const nodeId = registered.data!.node.node_id;
      const added = await owner.POST("/v1/networks/{id}/members", { params: { path: { id: String(networkId) } }, body: { node: String(nodeId) } });
      expect(added.data).toMatchObject({ result: "added", node_id: nodeId });
      nodes.push({ nodeId, client: registry({ authorization: `Bearer ${registered.data!.token.access_token}` }) });
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];

    const members = await a.client.GET("/v1/networks/{id}/members", { params: { path: { id: String(networkId) }, query: {} } });
    expect(members.data!.members.map((m) => m.node_id).sort()).toEqual([a.nodeId, b.nodeId].sort());
    const resolved = await a.client.GET("/v1/resolve/{target}", { params: { path: { target: String(b.nodeId) } } });
    expect(resolved.data).toMatchObject({ node_id: b.nodeId });
    // Errors arrive typed as the document's error envelope.
    const missing = await a.client.GET("/v1/resolve/{target}", { params: { path: { target: "4000000000" } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error!.error.code).toBe("not_found");
  });
});
