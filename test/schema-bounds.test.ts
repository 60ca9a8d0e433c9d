/**
 * The inputs a spec-driven fuzzer found the published schema admitting and the registry refusing
 * (issue #20): each is now refused by the document and by the registry alike, with 400 and its
 * stable code, changing nothing; and its valid neighbour is admitted by both.
 */
import { describe, expect, it } from "vitest";
import { addMember, asPerson, call, createNetwork, enrolledNode, errorOf, makeIdentity, register, signUp } from "./helpers.ts";
import { type JsonSchema, SchemaSet } from "./json-schema-arbitrary.ts";

interface Operation {
  parameters?: { name: string; schema: JsonSchema }[];
  requestBody?: { content: { "application/json": { schema: JsonSchema } } };
}
const doc = (await (await call("/v1/openapi.json")).json()) as { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };
const schemas = new SchemaSet(doc.components.schemas);

const admitsParam = (method: string, path: string, name: string, value: string) =>
  schemas.valid(schemas.local(doc.paths[path]![method]!.parameters!.find((p) => p.name === name)!.schema), value);
const admitsBody = (method: string, path: string, body: unknown) =>
  schemas.valid(schemas.local(doc.paths[path]![method]!.requestBody!.content["application/json"].schema), body);

describe("IDs as exact decimal ranges", () => {
  it.each([["65536"], ["99999"], ["0"], ["01"]])("refuse the network ID %s in the document and with 400", async (id) => {
    const owner = await signUp();
    expect(admitsParam("get", "/v1/networks/{id}", "id", id)).toBe(false);
    expect(await errorOf(await asPerson(owner, `/v1/networks/${id}`))).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("admit the network ID 65535 in the document, which the registry answers for state (404)", async () => {
    const owner = await signUp();
    expect(admitsParam("get", "/v1/networks/{id}", "id", "65535")).toBe(true);
    expect((await asPerson(owner, "/v1/networks/65535")).status).toBe(404);
  });

  it.each([["501"], ["999"], ["0"]])("refuse limit=%s in the document and with 400", async (limit) => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    expect(admitsParam("get", "/v1/networks/{id}/members", "limit", limit)).toBe(false);
    expect(await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/members?limit=${limit}`))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(admitsParam("get", "/v1/networks/{id}/members", "limit", "500")).toBe(true);
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members?limit=500`)).status).toBe(200);
  });

  it.each([["4294967295"], ["4294967296"], ["0"]])("refuse the node ID %s in a path in the document and with 400", async (id) => {
    const n = await register();
    expect(admitsParam("delete", "/v1/trust/{node_id}", "node_id", id)).toBe(false);
    expect(await errorOf(await call(`/v1/trust/${id}`, { method: "DELETE", token: n.token }))).toMatchObject({ status: 400, code: "invalid_request" });
  });
});

describe("keys and signatures as canonical base64 of their exact length", () => {
  it("refuse a key whose last character carries bits past its 32 bytes, and one of 31 bytes", async () => {
    const id = await makeIdentity();
    // The 43rd character of 32 bytes holds 4 bits and 2 unused ones, which B sets.
    const lastBits = `${id.publicKey.slice(0, 42)}B=`;
    for (const publicKey of [lastBits, btoa("k".repeat(31))]) {
      expect(admitsBody("post", "/v1/auth/challenge", { public_key: publicKey })).toBe(false);
      expect(await errorOf(await call("/v1/auth/challenge", { body: { public_key: publicKey }, ip: id.ip }))).toMatchObject({ status: 400, code: "invalid_request" });
    }
    expect(admitsBody("post", "/v1/auth/challenge", { public_key: id.publicKey })).toBe(true);
  });
});

describe("heartbeats", () => {
  it.each([
    ["a repeated LAN address", { lan_addrs: ["192.0.2.1:1000", "192.0.2.1:1000"] }],
    ["a repeated capability", { capabilities: ["relay", "relay"] }],
    ["an endpoint in 0.0.0.0/8", { endpoint: "0.1.2.3:5000" }],
    ["a multicast IPv6 endpoint", { endpoint: "[ff02::1]:5000" }],
    ["the unspecified IPv6 address", { lan_addrs: ["[::]:5000"] }],
    ["port 0", { endpoint: "192.0.2.1:0" }],
    ["port 65536", { endpoint: "192.0.2.1:65536" }],
  ])("refuse %s in the document and with 400, storing nothing", async (_, body) => {
    const n = await register();
    expect(admitsBody("post", "/v1/nodes/self/heartbeat", body)).toBe(false);
    expect(await errorOf(await call("/v1/nodes/self/heartbeat", { body, token: n.token }))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await (await call("/v1/nodes/self", { token: n.token })).json()).toMatchObject({ endpoint: null, lan_addrs: [], capabilities: [] });
  });

  it("admit unicast endpoints of both families", async () => {
    const n = await register();
    const body = { endpoint: "[2001:db8::1]:443", lan_addrs: ["192.168.1.2:37736"], capabilities: ["relay"] };
    expect(admitsBody("post", "/v1/nodes/self/heartbeat", body)).toBe(true);
    expect((await call("/v1/nodes/self/heartbeat", { body, token: n.token })).status).toBe(200);
  });
});

describe("a node's own settings", () => {
  it.each([
    ["an empty update", {}, "invalid_request"],
    ["an all-digit hostname", { hostname: "12345" }, "invalid_request"],
    ["a reserved hostname", { hostname: "registry" }, "hostname_reserved"],
  ])("refuse %s in the document and with 400, changing nothing", async (_, body, code) => {
    const n = await register();
    expect(admitsBody("patch", "/v1/nodes/self", body)).toBe(false);
    expect(await errorOf(await call("/v1/nodes/self", { method: "PATCH", body, token: n.token }))).toMatchObject({ status: 400, code });
    expect(await (await call("/v1/nodes/self", { token: n.token })).json()).toMatchObject({ hostname: null, public: false });
  });

  it("admit clearing a hostname, which the document's not does not forbid", () => {
    expect(admitsBody("patch", "/v1/nodes/self", { hostname: null })).toBe(true);
  });
});

describe("node references", () => {
  it.each([["0"], ["00"], ["4294967295"], ["0:0000.0000.0000"], ["1:0001.FFFF.FFFF"], ["65536:10000.0000.0001"], ["Upper"]])(
    "refuse %j, which can never name a node, in the document and with 400 invalid_target",
    async (target) => {
      const n = await register();
      expect(admitsParam("get", "/v1/resolve/{target}", "target", target)).toBe(false);
      expect(await errorOf(await call(`/v1/resolve/${encodeURIComponent(target)}`, { token: n.token }))).toMatchObject({ status: 400, code: "invalid_target" });
    },
  );

  it("admit an address whose hex network differs from its decimal one in the document, and answer it with 422", async () => {
    const n = await register();
    expect(admitsParam("get", "/v1/resolve/{target}", "target", "1:00A3.F291.0004")).toBe(true);
    expect(await errorOf(await call("/v1/resolve/1:00A3.F291.0004", { token: n.token }))).toMatchObject({ status: 422, code: "invalid_target" });
  });
});

describe("cross-field rules as one shape per case", () => {
  it("refuse a single-use enrollment key with max_uses over 1 in the document and with 400, making no key", async () => {
    const owner = await signUp();
    const body = { description: "batch", max_uses: 5 };
    expect(admitsBody("post", "/v1/account/enrollment-keys", body)).toBe(false);
    const err = await errorOf(await asPerson(owner, "/v1/account/enrollment-keys", { body }));
    // The closest shape's complaint, not the union's own "invalid input".
    expect(err).toMatchObject({ status: 400, code: "invalid_request", message: "max_uses: a single-use key has max_uses 1; set reusable to allow more" });
    expect(await (await asPerson(owner, "/v1/account/enrollment-keys")).json()).toEqual({ keys: [] });
    const reusable = { ...body, reusable: true };
    expect(admitsBody("post", "/v1/account/enrollment-keys", reusable)).toBe(true);
    expect((await asPerson(owner, "/v1/account/enrollment-keys", { body: reusable })).status).toBe(201);
  });

  it("refuse a token for an invite-only network in the document and with 400, making no network", async () => {
    const owner = await signUp();
    const body = { name: "lab", join_rule: "invite", token: "long-enough-token" };
    expect(admitsBody("post", "/v1/networks", body)).toBe(false);
    expect(await errorOf(await asPerson(owner, "/v1/networks", { body }))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(((await (await asPerson(owner, "/v1/networks")).json()) as { networks: unknown[] }).networks).toEqual([]);
  });

  it("answer a request that also breaks the schema with 400, not 422", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const body = { self_tagging: false, rules: [{ from: "*", to: "*", ports: [[9000, 8000]], protocols: ["stream", "stream"] }] };
    expect(admitsBody("put", "/v1/networks/{id}/policy", body)).toBe(false);
    expect(await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/policy`, { method: "PUT", body }))).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("answer a port range whose first port is above its last, which the document cannot state, with 422, keeping the policy", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    await addMember(owner, net.network_id, (await enrolledNode(owner)).nodeId);
    const before = await (await asPerson(owner, `/v1/networks/${net.network_id}/policy`)).json();
    const body = { self_tagging: false, rules: [{ from: "*", to: "*", ports: [[9000, 8000]], protocols: ["stream"] }] };
    expect(admitsBody("put", "/v1/networks/{id}/policy", body)).toBe(true);
    const err = await errorOf(await asPerson(owner, `/v1/networks/${net.network_id}/policy`, { method: "PUT", body }));
    expect(err).toMatchObject({ status: 422, code: "invalid_request" });
    expect(err.message).toMatch(/first <= last/);
    expect(await (await asPerson(owner, `/v1/networks/${net.network_id}/policy`)).json()).toEqual(before);
  });
});
