/** The API description as clients and fuzzers use it: names, credentials, WebSockets, and the statuses it declares. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../worker/app.ts";
import { checkDeclared } from "./declared-statuses.ts";
import { awaitFreshRateWindow, call, errorOf, ORIGIN, register } from "./helpers.ts";

type Operation = {
  operationId?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
};
type Document = { servers?: { url: string }[]; paths: Record<string, Record<string, Operation>> };

const served = async (): Promise<Document> => (await (await call("/v1/openapi.json")).json()) as Document;

const operationsOf = (doc: Document) =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, method, op })));

const WEBSOCKETS = ["GET /v1/nodes/self/channel", "GET /v1/networks/{id}/channel", "GET /v1/relay"];

describe("the API description", () => {
  it("names every operation, uniquely, as a generated client's method", async () => {
    const ops = operationsOf(await served());
    const ids = ops.map(({ op }) => op.operationId);
    expect(ids.filter((id) => !/^[a-z][a-zA-Z]+$/.test(id ?? ""))).toEqual([]);
    expect(new Set(ids).size).toBe(ops.length);
    const named = Object.fromEntries(ops.map(({ route, op }) => [route, op.operationId]));
    expect(named).toMatchObject({
      "GET /v1/resolve/{target}": "resolveNode",
      "POST /v1/networks": "createNetwork",
      "GET /v1/networks/{id}/members": "listMembers",
      "POST /v1/handshakes": "requestHandshake",
      "POST /v1/handshakes/{node_id}/approve": "approveHandshake",
      "DELETE /v1/trust/{node_id}": "revokeTrust",
      "GET /v1/nodes/self": "getSelf",
      "POST /v1/nodes/self/heartbeat": "heartbeat",
      "POST /v1/accounts": "signUp",
      "POST /v1/sessions": "signIn",
    });
  });

  it("states every operation's credential, and none for exactly the open routes", async () => {
    const ops = operationsOf(await served());
    expect(ops.filter(({ op }) => !Array.isArray(op.security)).map(({ route }) => route)).toEqual([]);
    expect(ops.filter(({ op }) => op.security!.length === 0).map(({ route }) => route).sort()).toEqual([
      "GET /v1/health",
      "GET /v1/registry/keys",
      "POST /v1/accounts",
      "POST /v1/auth/challenge",
      "POST /v1/auth/token",
      "POST /v1/nodes",
      "POST /v1/sessions",
    ]);
  });

  it("declares what a credential, a body and the body limit can answer, with the error envelope", async () => {
    for (const { route, method, op } of operationsOf(await served())) {
      const statuses = Object.keys(op.responses);
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      if (schemes.length > 0) expect(statuses, route).toEqual(expect.arrayContaining(schemes.includes("operator") ? ["401", "503"] : ["401", "403", "503"]));
      if (op.requestBody) expect(statuses, route).toEqual(expect.arrayContaining(["400", "415"]));
      if (method !== "get") expect(statuses, route).toContain("413");
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        expect(op.responses[status]!.content?.["application/json"]?.schema.$ref, `${route} ${status}`).toBe("#/components/schemas/Error");
      }
    }
  });

  it("describes each WebSocket route by its required Upgrade header and its 101", async () => {
    const ops = operationsOf(await served()).filter(({ op }) => "101" in op.responses);
    expect(ops.map(({ route }) => route).sort()).toEqual([...WEBSOCKETS].sort());
    for (const { route, op } of ops) {
      expect(op.parameters, route).toContainEqual(expect.objectContaining({ name: "Upgrade", in: "header", required: true }));
      expect(Object.keys(op.responses).filter((s) => s.startsWith("2")), route).toEqual([]);
    }
    // Without the header, the 400 the description promises.
    const n = await register();
    expect(await errorOf(await call("/v1/relay", { token: n.token }))).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("names the registry it came from: the request's origin, or PUBLIC_ORIGIN when the operator set it", async () => {
    expect((await served()).servers).toEqual([expect.objectContaining({ url: ORIGIN })]);
    const configured = { ...env, PUBLIC_ORIGIN: "https://registry.example" };
    const res = await app.request(`${ORIGIN}/v1/openapi.json`, {}, configured);
    expect(((await res.json()) as Document).servers).toEqual([expect.objectContaining({ url: "https://registry.example" })]);
  });

  it("declares the 429 of a trust revocation, which counts toward the node's handshake budget", { timeout: 60_000 }, async () => {
    const [me, peer] = [await register(), await register()];
    await awaitFreshRateWindow();
    // The budget is 30 a minute (wrangler.toml); handshake requests spend it, whatever their target.
    const sent: number[] = [];
    for (let i = 0; i < 30; i++) sent.push((await call("/v1/handshakes", { body: { target: String(peer.nodeId), justification: "to test" }, token: me.token })).status);
    expect(sent.every((s) => s === 200)).toBe(true);
    // `call` also holds the answer to the description: an undeclared 429 would throw here.
    const res = await call(`/v1/trust/${peer.nodeId}`, { method: "DELETE", token: me.token });
    expect(await errorOf(res)).toMatchObject({ status: 429, code: "rate_limited" });
  });

  it("lets no test get an undeclared status through `call` unnoticed", async () => {
    const request = new Request(`${ORIGIN}/v1/health`);
    await expect(checkDeclared(request, new Response(null, { status: 418 }))).rejects.toThrow("GET /v1/health answered 418");
    await expect(checkDeclared(request, new Response(null, { status: 200 }))).resolves.toBeUndefined();
    // The most literal template decides: /v1/nodes/self is not /v1/nodes/{id} of some other route.
    const self = new Request(`${ORIGIN}/v1/nodes/self`, { method: "DELETE" });
    await expect(checkDeclared(self, new Response(null, { status: 204 }))).resolves.toBeUndefined();
    await expect(checkDeclared(self, new Response(null, { status: 201 }))).rejects.toThrow("DELETE /v1/nodes/self answered 201");
  });
});
