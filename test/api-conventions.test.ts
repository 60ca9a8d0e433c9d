import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../main.ts";
import { asPerson, awaitFreshRateWindow, call, createNetwork, errorOf, freshIp, makeIdentity, register, signUp } from "./helpers.ts";

describe("API conventions", () => {
  it("serve an OpenAPI 3.1 document generated from the shared schemas", async () => {
    const res = await call("/v1/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/auth/challenge", "/v1/auth/token", "/v1/health", "/v1/nodes", "/v1/nodes/self", "/v1/nodes/self/heartbeat",
        "/v1/resolve/{target}", "/v1/accounts", "/v1/sessions", "/v1/session", "/v1/account", "/v1/account/tokens",
        "/v1/account/enrollment-keys", "/v1/networks", "/v1/networks/{id}", "/v1/networks/{id}/members",
        "/v1/networks/{id}/members/{node_id}", "/v1/networks/{id}/token", "/v1/networks/{id}/audit", "/v1/networks/{id}/join",
        "/v1/networks/{id}/leave", "/v1/networks/{id}/channel", "/v1/nodes/self/networks", "/v1/invitations",
        "/v1/invitations/{id}/accept", "/v1/invitations/{id}/decline", "/v1/handshakes", "/v1/handshakes/pending",
        "/v1/handshakes/{node_id}/approve", "/v1/handshakes/{node_id}/reject", "/v1/trust", "/v1/trust/{node_id}",
        "/v1/nodes/self/channel", "/v1/relay/turn", "/v1/nodes/self/key",
      ]),
    );
    expect(doc.components.schemas).toHaveProperty("Error");
    expect(doc.components.schemas).toHaveProperty("ResolvedNode");
  });

  it("answer an unknown route with route_not_found", async () => {
    expect(await errorOf(await call("/v1/nope"))).toMatchObject({ status: 404, code: "route_not_found" });
    expect(await errorOf(await call("/v1/nodes/self", { method: "PUT", body: {} }))).toMatchObject({ status: 404, code: "route_not_found" });
  });

  it("refuse malformed JSON", async () => {
    const res = await call("/v1/auth/challenge", { rawBody: '{"public_key": ', headers: { "content-type": "application/json" }, ip: freshIp() });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_json" });
  });

  it.each([["text/plain"], ["application/x-www-form-urlencoded"], ["multipart/form-data; boundary=x"]])(
    "refuse a body sent as %s",
    async (type) => {
      const id = await makeIdentity();
      const res = await call("/v1/auth/challenge", { rawBody: JSON.stringify({ public_key: id.publicKey }), headers: { "content-type": type }, ip: id.ip });
      expect(await errorOf(res)).toMatchObject({ status: 415, code: "unsupported_media_type" });
    },
  );

  it("refuse a body with no content type", async () => {
    const id = await makeIdentity();
    const res = await call("/v1/auth/challenge", { rawBody: JSON.stringify({ public_key: id.publicKey }), ip: id.ip });
    expect(await errorOf(res)).toMatchObject({ status: 415, code: "unsupported_media_type" });
  });

  it("refuse an oversized body with 413 before parsing it", async () => {
    const n = await register();
    const huge = JSON.stringify({ hostname: "a".repeat(20_000) });
    const res = await call("/v1/nodes/self", { method: "PATCH", rawBody: huge, headers: { "content-type": "application/json" }, token: n.token });
    expect(await errorOf(res)).toMatchObject({ status: 413, code: "payload_too_large" });
  });

  it.each([
    ["an unknown field", (k: string) => ({ public_key: k, extra: 1 })],
    ["a __proto__ field", (k: string) => JSON.parse(`{"public_key":"${k}","__proto__":{"admin":true}}`)],
    ["an array", (k: string) => [k]],
    ["a string", (k: string) => k],
    ["null", () => null],
  ])("refuse %s in a body", async (_, make) => {
    const id = await makeIdentity();
    const res = await call("/v1/auth/challenge", { body: make(id.publicKey), ip: id.ip });
    expect(await errorOf(res)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("rate-limit challenges per client address with 429, leaving other addresses alone", { timeout: 30_000 }, async () => {
    const id = await makeIdentity();
    const ip = freshIp();
    await awaitFreshRateWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 603; i++) {
      statuses.push((await call("/v1/auth/challenge", { body: { public_key: id.publicKey }, ip })).status);
    }
    expect(statuses.slice(0, 600).every((s) => s === 201)).toBe(true);
    expect(statuses.slice(600).every((s) => s === 429)).toBe(true);
    const limited = await call("/v1/auth/challenge", { body: { public_key: id.publicKey }, ip });
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(await errorOf(limited)).toMatchObject({ status: 429, code: "rate_limited" });
    // Registration shares the bucket; another address is unaffected.
    expect(await errorOf(await call("/v1/nodes", { body: {}, ip }))).toMatchObject({ status: 429 });
    expect((await call("/v1/auth/challenge", { body: { public_key: id.publicKey }, ip: freshIp() })).status).toBe(201);
  });

  it("sweep challenges that expired unused on the scheduled run", async () => {
    const id = await makeIdentity();
    await call("/v1/auth/challenge", { body: { public_key: id.publicKey }, ip: id.ip });
    await env.DB.prepare("UPDATE challenges SET expires_at = 0 WHERE public_key = ?").bind(id.publicKey).run();
    const fresh = await makeIdentity();
    await call("/v1/auth/challenge", { body: { public_key: fresh.publicKey }, ip: fresh.ip });
    await worker.scheduled({ cron: "17 * * * *", scheduledTime: Date.now(), noRetry() {} }, env);
    const left = await env.DB.prepare("SELECT public_key FROM challenges WHERE public_key IN (?, ?)").bind(id.publicKey, fresh.publicKey).all();
    expect(left.results).toEqual([{ public_key: fresh.publicKey }]);
  });

  it("never answer 500 to anything a stranger sends to any route the API describes, authenticated or not", { timeout: 120_000 }, async () => {
    const n = await register();
    const owner = await signUp();
    const net = await createNetwork(owner);
    const apiToken = ((await (await asPerson(owner, "/v1/account/tokens", { body: { name: "fuzz" } })).json()) as { token: string }).token;
    const doc = (await (await call("/v1/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    // Every path and method the API describes, with parameters that name real things, and a few
    // that are not even well formed.
    const real: Record<string, string> = { id: String(net.network_id), node_id: String(n.nodeId), target: String(n.nodeId), name: "some-name" };
    const routes: [string, string][] = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method): [string, string] => [method.toUpperCase(), path.replace(/\{(\w+)\}/g, (_, p: string) => real[p] ?? "1")]),
    );
    expect(routes.length).toBeGreaterThanOrEqual(42);
    routes.push(
      ["GET", "/v1/resolve/%FF%FE"], ["GET", "/v1/resolve/" + "9".repeat(70)], ["GET", "/v1/resolve/0:0000.0000.0001"],
      ["GET", `/v1/networks/${net.network_id}/members?limit=9999`], ["POST", "/v1/networks/70000/join"], ["GET", `/v1/networks/${net.network_id}/audit?cursor=x`],
      ["DELETE", `/v1/networks/${net.network_id}/invitations/%00`], ["DELETE", `/v1/networks/${net.network_id}/invitations/9:0009.0000.0001`],
    );
    const bodies = ["", "{", "[]", "null", "0", '"x"', '{"a":'.repeat(500), JSON.stringify({ public_key: "\u0000" }),
      JSON.stringify({ hostname: { toString: 1 } }), JSON.stringify({ endpoint: ["1.2.3.4:5"] }), "\uFEFF{}",
      JSON.stringify({ hostname: "ok-name", public: "true" }), JSON.stringify({ lan_addrs: "10.0.0.1:1" }),
      JSON.stringify({ target: "1", justification: "x".repeat(2000) }), JSON.stringify({ target: "1", justification: "hi" }),
      JSON.stringify({ reason: ["x"] }), JSON.stringify({ node: "1" }), JSON.stringify({ name: "x", join_rule: "token" })];
    let tried = 0;
    let reachedAccountHandlers = 0;
    // The owner's own deletions come last, so every other route still finds its network.
    routes.sort(([m1], [m2]) => Number(m1 === "DELETE") - Number(m2 === "DELETE"));
    for (const [method, path] of routes) {
      for (const rawBody of method === "GET" ? [undefined] : bodies) {
        // A valid token reaches the handlers; DELETE gets a node of its own each time.
        const valid = method === "DELETE" ? (await register()).token : n.token;
        for (const authorization of [undefined, "Bearer x.y.z", `Bearer ${valid}`, "Bearer pat_" + "A".repeat(43), `Bearer ${apiToken}`]) {
          const headers: Record<string, string> = {};
          if (rawBody !== undefined) headers["content-type"] = "application/json";
          if (authorization) headers["authorization"] = authorization;
          const res = await call(path, { method, rawBody, headers, ip: freshIp() });
          expect(res.status, `${method} ${path} ${rawBody?.slice(0, 20)}`).toBeLessThan(500);
          if (authorization === `Bearer ${apiToken}` && res.status < 300 && path.startsWith("/v1/networks")) reachedAccountHandlers++;
          if (res.status !== 204 && res.status !== 101) expect((await res.json()) as object).toBeTypeOf("object");
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(2000);
    // The owner's credential got past authentication into the network handlers, not just a 401.
    expect(reachedAccountHandlers).toBeGreaterThan(5);
  });

  it("answer the health probe", async () => {
    expect(await (await call("/v1/health")).json()).toEqual({ status: "ok" });
  });
});
