/**
 * The registry's log (worker/observability/log.ts), read as an operator reads it: every line the
 * Worker and its objects print during flows that handle every kind of secret is one JSON object
 * with a level, an event and a request ID field; none holds a secret; the changes an operator
 * must be able to trace are there, under the ID the answer gave the caller.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RegisterResponse } from "@pilot/protocol";
import { app } from "../worker/app.ts";
import {
  asPerson,
  call,
  createNetwork,
  errorOf,
  freshIp,
  join,
  makeIdentity,
  ORIGIN,
  proof,
  register,
  signUp,
  type Registered,
} from "./helpers.ts";

interface Line {
  level: string;
  event: string;
  request_id: string | null;
  [field: string]: unknown;
}

let printed: string[] = [];
beforeEach(() => {
  printed = [];
  for (const level of ["log", "warn", "error", "info", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(" ")));
  }
});
afterEach(() => vi.restoreAllMocks());

/** A credential of the same form, one character off. */
const otherThan = (secret: string) => secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");

const lines = (): Line[] => printed.map((p) => JSON.parse(p) as Line);

/** Waits for a line the objects print in the background (after the answer). */
async function lineFor(event: string, match: (l: Line) => boolean = () => true): Promise<Line> {
  await vi.waitFor(() => expect(lines().some((l) => l.event === event && match(l))).toBe(true), { timeout: 10_000 });
  return lines().find((l) => l.event === event && match(l))!;
}

const requestIdOf = (res: Response) => {
  const id = res.headers.get("x-request-id");
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id!;
};

async function json<T>(res: Response, status = 200): Promise<T> {
  expect(res.status, await res.clone().text()).toBe(status);
  return (await res.json()) as T;
}

describe("the log", () => {
  it("holds no secret from any flow that handles one, and every line is JSON with a level, an event and a request ID field", async () => {
    const secrets: string[] = [];
    const keep = <T extends string>(s: T) => (secrets.push(s), s);

    // Passwords, the session cookie and the CSRF token: sign-up, sign-in, a wrong password.
    const email = `logs-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const password = keep(`pw-${crypto.randomUUID()}`);
    const signedUp = await call("/v1/accounts", { body: { email, password }, ip: freshIp() });
    const { csrf_token } = await json<{ csrf_token: string }>(signedUp, 201);
    keep(csrf_token);
    const cookie = keep(/pilot_session=([^;]+)/.exec(signedUp.headers.get("set-cookie") ?? "")![1]!);
    const signedIn = await call("/v1/sessions", { body: { email, password }, ip: freshIp() });
    keep(/pilot_session=([^;]+)/.exec(signedIn.headers.get("set-cookie") ?? "")![1]!);
    keep((await json<{ csrf_token: string }>(signedIn)).csrf_token);
    const wrongPassword = keep(`wrong-${crypto.randomUUID()}`);
    expect((await call("/v1/sessions", { body: { email, password: wrongPassword }, ip: freshIp() })).status).toBe(401);
    const owner = { accountId: 0, email, cookie: `pilot_session=${cookie}`, csrf: csrf_token, ip: freshIp() };

    // An account API token, used, and a wrong one.
    const { token: apiToken } = await json<{ token: string }>(await asPerson(owner, "/v1/account/tokens", { body: { name: "ci" } }), 201);
    keep(apiToken);
    expect((await call("/v1/account", { token: apiToken })).status).toBe(200);
    expect((await call("/v1/account", { token: keep(otherThan(apiToken)) })).status).toBe(401);

    // An enrollment key, and a node registered with it: its signature, its access token.
    const { key } = await json<{ key: string }>(await asPerson(owner, "/v1/account/enrollment-keys", { body: { description: "logs" } }), 201);
    keep(key);
    const identity = await makeIdentity();
    const registration = await proof(identity, "register");
    keep(registration.signature);
    const reg = await json<RegisterResponse>(await call("/v1/nodes", { body: { ...registration, enrollment_key: key }, ip: identity.ip }), 201);
    const a: Registered = { ...identity, nodeId: reg.node.node_id, token: keep(reg.token.access_token) };
    const refreshed = await json<{ access_token: string }>(await call("/v1/auth/token", { body: await proof(a, "token"), ip: a.ip }));
    keep(refreshed.access_token);
    expect((await call("/v1/nodes", { body: { ...(await proof(await makeIdentity(), "register")), enrollment_key: keep(otherThan(key)) }, ip: freshIp() })).status).toBe(403);

    // A network's join token and a join link's token; a node joins with each, and with a wrong one.
    const net = await createNetwork(owner);
    keep(net.join!.token);
    const b = await register();
    keep(b.token);
    const joined = await join(b, net.network_id, net.join!.token);
    expect(joined.status).toBe(200);
    const link = await json<{ token: string }>(await asPerson(owner, `/v1/networks/${net.network_id}/links`, { body: { label: "logs" } }), 201);
    keep(link.token);
    const c = await register();
    keep(c.token);
    expect((await join(c, net.network_id, link.token)).status).toBe(200);
    expect((await join(await register(), net.network_id, keep(`wrong-${crypto.randomUUID().slice(0, 12)}`))).status).toBe(403);

    // TURN credentials, from a registry configured with a TURN key.
    const turnApi = env.TEST_TURN_API;
    keep(turnApi.apiToken);
    const turnRes = await app.request(`${ORIGIN}/v1/relay/turn`, { method: "POST", headers: { authorization: `Bearer ${a.token}` } }, { ...env, TURN_KEY_ID: turnApi.keyId, TURN_KEY_API_TOKEN: turnApi.apiToken });
    const turn = await json<{ username: string; credential: string }>(turnRes);
    keep(turn.credential);
    // A misconfigured TURN key is logged (a warning for the operator), without its token.
    const wrongTurnToken = keep(`turn-${crypto.randomUUID()}`);
    await app.request(`${ORIGIN}/v1/relay/turn`, { method: "POST", headers: { authorization: `Bearer ${c.token}` } }, { ...env, TURN_KEY_ID: turnApi.keyId, TURN_KEY_API_TOKEN: wrongTurnToken });
    expect(lines().some((l) => l.event === "turn_api_refused" && l.level === "warn")).toBe(true);

    // The operator's token, right and wrong.
    keep(env.OPERATOR_TOKEN);
    expect((await call("/v1/admin/stats", { token: env.OPERATOR_TOKEN })).status).toBe(200);
    expect((await call("/v1/admin/stats", { token: `${env.OPERATOR_TOKEN}x` })).status).toBe(401);

    // Changes that log, with their revocations: a removal, a leave, a deregistration.
    expect((await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" })).status).toBe(204);
    expect((await call(`/v1/networks/${net.network_id}/leave`, { method: "POST", token: c.token })).status).toBe(204);
    expect((await call("/v1/nodes/self", { method: "DELETE", token: a.token })).status).toBe(204);
    await lineFor("member_left", (l) => l["node_id"] === c.nodeId);
    await lineFor("node_deregistered", (l) => l["node_id"] === a.nodeId);

    expect(printed.length).toBeGreaterThan(0);
    for (const line of lines()) {
      expect(["info", "warn", "error"]).toContain(line.level);
      expect(typeof line.event).toBe("string");
      expect(line).toHaveProperty("request_id");
    }
    const log = printed.join("\n");
    for (const secret of secrets) expect(log, "a secret reached the log").not.toContain(secret);
    // Nor in any form a careless line might print: without its prefix, or base64url-decoded. A
    // prefix counts where a token would begin, not inside an ID: a revocation ID is random
    // base64url, and one (rv_g6N0hhVek_24mTZqZEMgVQ) once held "ek_" and failed this test.
    const secretLike = /(?<![\w-])(pat_|ek_)|pilot_session|password/i;
    expect(['"pat_x"', "Bearer ek_x", '"rv_g6N0hhVek_24mTZqZEMgVQ"'].map((s) => secretLike.test(s))).toEqual([true, true, false]);
    expect(log).not.toMatch(secretLike);
  });

  it("records each membership change, revocation and trust change under the ID the answer gave the caller", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [a, b] = [await register(), await register()];

    const joined = await join(a, net.network_id, net.join!.token);
    expect(joined.status).toBe(200);
    const joinLine = await lineFor("member_joined", (l) => l["node_id"] === a.nodeId);
    expect(joinLine).toMatchObject({ level: "info", request_id: requestIdOf(joined), network_id: net.network_id, actor_type: "node" });
    expect(await join(b, net.network_id, net.join!.token)).toHaveProperty("status", 200);

    const removed = await asPerson(owner, `/v1/networks/${net.network_id}/members/${b.nodeId}`, { method: "DELETE" });
    expect(removed.status).toBe(204);
    const removalId = requestIdOf(removed);
    expect(await lineFor("member_removed", (l) => l["node_id"] === b.nodeId)).toMatchObject({ request_id: removalId, network_id: net.network_id, actor_type: "account" });
    expect(await lineFor("revocation", (l) => l.request_id === removalId)).toMatchObject({ kind: "removed", network_id: net.network_id, revocation_id: expect.stringMatching(/^rv_/) });

    // Trust: approved, then revoked (with its revocation), each under its own request.
    expect((await call("/v1/handshakes", { body: { target: String(b.nodeId), justification: "logs" }, token: a.token })).status).toBe(200);
    const approved = await call(`/v1/handshakes/${a.nodeId}/approve`, { method: "POST", token: b.token });
    expect(approved.status).toBe(200);
    expect(await lineFor("trust_approved", (l) => l["peer"] === a.nodeId)).toMatchObject({ request_id: requestIdOf(approved), node_id: b.nodeId });
    const revoked = await call(`/v1/trust/${b.nodeId}`, { method: "DELETE", token: a.token });
    expect(revoked.status).toBe(200);
    const { revocation_id } = (await revoked.json()) as { revocation_id: string };
    expect(await lineFor("trust_revoked", (l) => l["node_id"] === a.nodeId)).toMatchObject({ request_id: requestIdOf(revoked), peer: b.nodeId, revocation_id });

    const deleted = await asPerson(owner, `/v1/networks/${net.network_id}`, { method: "DELETE" });
    expect(deleted.status).toBe(204);
    expect(await lineFor("network_deleted", (l) => l["network_id"] === net.network_id)).toMatchObject({ request_id: requestIdOf(deleted), members: 1 });
  });

  it("takes Cloudflare's Ray ID as the request ID, and no other header a client sends", async () => {
    const ray = "8f1e2d3c4b5a6978-AMS";
    expect((await call("/v1/health", { headers: { "cf-ray": ray } })).headers.get("x-request-id")).toBe(ray);
    for (const forged of ["x".repeat(200), "8f1e2d3c4b5a6978-AMS level=error", ""]) {
      expect((await call("/v1/health", { headers: { "cf-ray": forged } })).headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await call("/v1/no-such-route")).headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("logs an unhandled error with its request ID, which the 500 quotes to the caller", async () => {
    // A registry whose database binding is missing fails inside a handler.
    const { DB: _, ...broken } = env;
    const res = await app.request(`${ORIGIN}/v1/auth/challenge`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": freshIp() }, body: JSON.stringify({ public_key: (await makeIdentity()).publicKey }) }, broken);
    const requestId = requestIdOf(res);
    const error = await errorOf(res);
    expect(error).toMatchObject({ status: 500, code: "internal" });
    expect(error.message).toContain(requestId);
    const line = await lineFor("unhandled_error");
    expect(line).toMatchObject({ level: "error", request_id: requestId, method: "POST", route: "/v1/auth/challenge" });
    expect(typeof line["error_message"]).toBe("string");
  });
});
