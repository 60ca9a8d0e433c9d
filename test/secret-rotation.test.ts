/**
 * What rotating TOKEN_SECRET does to live clients, as docs/operations.md states it: every node
 * access token and console session made under the old secret is refused at once (401
 * token_invalid; a session is simply gone), and a node gets a working token again by proving its
 * key, which no secret of the registry's is part of. API tokens do not depend on the secret.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../worker/app.ts";
import { asPerson, errorOf, ORIGIN, proof, register, signUp } from "./helpers.ts";

const rotated = { ...env, TOKEN_SECRET: crypto.randomUUID() + crypto.randomUUID() };

describe("rotating TOKEN_SECRET", () => {
  it("refuses node tokens made under the old secret with 401 token_invalid; proving the key gets a working one", async () => {
    const n = await register();
    const asNode = (token: string) => app.request(`${ORIGIN}/v1/nodes/self`, { headers: { authorization: `Bearer ${token}` } }, rotated);
    expect(await errorOf(await asNode(n.token))).toMatchObject({ status: 401, code: "token_invalid" });
    const res = await app.request(`${ORIGIN}/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": n.ip }, body: JSON.stringify(await proof(n, "token")) }, rotated);
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await asNode(access_token)).status).toBe(200);
  });

  it("ends every console session, and leaves account API tokens working", async () => {
    const owner = await signUp();
    const tokenRes = await asPerson(owner, "/v1/account/tokens", { body: { name: "ops" } });
    const { token } = (await tokenRes.json()) as { token: string };
    const account = (headers: Record<string, string>) => app.request(`${ORIGIN}/v1/account`, { headers }, rotated);
    expect((await account({ cookie: owner.cookie })).status).toBe(401);
    expect((await account({ authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
