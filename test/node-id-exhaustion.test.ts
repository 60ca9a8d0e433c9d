// In a file of its own: it moves the ID sequence to its end, and storage is shared per file.
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { call, errorOf, freshIp, makeIdentity, proof, register } from "./helpers.ts";

const registerWith = (body: unknown) => call("/v1/nodes", { body, ip: freshIp() });

it("reports exhaustion of the 32-bit node ID space instead of wrapping around", async () => {
  await register();
  await env.DB.prepare("UPDATE sqlite_sequence SET seq = 4294967293 WHERE name = 'nodes'").run();
  const last = await register();
  expect(last.nodeId).toBe(4294967294);
  const id = await makeIdentity();
  expect(await errorOf(await registerWith(await proof(id, "register")))).toMatchObject({
    status: 503,
    code: "address_space_exhausted",
  });
  // Keys that already have an ID still sign in.
  expect((await registerWith(await proof(last, "register"))).status).toBe(200);
});
