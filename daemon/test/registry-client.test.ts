import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../src/identity.ts";
import { RegistryClient, RegistryError } from "../src/registry-client.ts";
import { formatAddress } from "@pilot/protocol";
import { startLocalRegistry, type LocalRegistry } from "./local-registry.ts";

const OPERATOR_TOKEN = randomBytes(32).toString("hex");
let registry: LocalRegistry;
beforeAll(async () => {
  registry = await startLocalRegistry({ secrets: { OPERATOR_TOKEN } });
});
afterAll(() => registry?.close());

const newClient = (identity = Identity.generate(), now?: () => number) => new RegistryClient({ url: registry.url, identity, now });

async function failure(promise: Promise<unknown>): Promise<RegistryError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RegistryError);
  return e as RegistryError;
}

describe("the registry client against a local registry", () => {
  it("registers over a real socket, and the same identity gets the same node again", async () => {
    const identity = Identity.generate();
    const first = await newClient(identity).register();
    expect(first.created).toBe(true);
    expect(first.node.address).toBe(formatAddress({ network: 0, node: first.node.node_id }));
    const again = await newClient(identity).register();
    expect(again).toMatchObject({ created: false, node: { node_id: first.node.node_id } });
  });

  it("gets a token by signed challenge when it has none, and a new one before the old expires", async () => {
    const identity = Identity.generate();
    await newClient(identity).register();
    let clock = Date.now();
    const client = newClient(identity, () => clock);
    expect(client.accessToken).toBeUndefined();
    const me = await client.self();
    const firstToken = client.accessToken;
    expect(firstToken).toBeDefined();
    expect(me.public_key).toBe(identity.publicKey);
    await client.self();
    expect(client.accessToken).toBe(firstToken);
    clock += 15 * 60_000;
    await client.self();
    expect(client.accessToken).not.toBe(firstToken);
  });

  it("reports the node's suspension, drops the token it revoked, and gets a new one once restored", async () => {
    const client = newClient();
    const { node } = await client.register();
    const operator = (action: string, body?: unknown) =>
      fetch(new URL(`/v1/admin/nodes/${node.node_id}/${action}`, registry.url), {
        method: "POST",
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body ?? {}),
      });
    expect((await operator("suspend", { reason: "tests" })).status).toBe(200);
    const refused = await failure(client.self());
    expect(refused).toMatchObject({ status: 403, code: "node_suspended" });
    expect(refused.hint).toContain("operator");
    expect(client.suspension).toContain("tests");
    expect(client.accessToken).toBeUndefined();
    expect((await failure(client.self())).code).toBe("node_suspended");
    expect((await operator("restore")).status).toBe(200);
    expect((await client.self()).node_id).toBe(node.node_id);
    expect(client.suspension).toBeNull();
  });

  it("sets hostname and visibility, reports endpoints and resolves by every kind of name", async () => {
    const a = newClient();
    const b = newClient();
    await a.register();
    const { node } = await b.register();
    await b.update({ hostname: `client-b-${node.node_id}`, public: true });
    expect(await b.heartbeat({ endpoint: "127.0.0.1:4000", lan_addrs: ["127.0.0.1:4000"] })).toMatchObject({ changed: true });
    expect(await b.heartbeat({ endpoint: "127.0.0.1:4000", lan_addrs: ["127.0.0.1:4000"] })).toMatchObject({ changed: false });
    for (const target of [node.node_id, node.address, `client-b-${node.node_id}`]) {
      expect(await a.resolve(target)).toMatchObject({ node_id: node.node_id, endpoint: "127.0.0.1:4000", online: true });
    }
  });

  it("reports the registry's errors with their codes and a hint", async () => {
    const a = newClient();
    const b = newClient();
    await a.register();
    const { node } = await b.register();
    const hidden = await failure(a.resolve(node.node_id));
    expect(hidden).toMatchObject({ status: 404, code: "not_found" });
    expect(hidden.hint).toMatch(/private.*pilotctl handshake/);

    await a.update({ hostname: `taken-${node.node_id}` });
    expect(await failure(b.update({ hostname: `taken-${node.node_id}` }))).toMatchObject({ status: 409, code: "hostname_taken" });
    expect(await failure(b.update({ hostname: "Not Valid" }))).toMatchObject({ status: 400, code: "invalid_request" });
    expect(await failure(b.resolve("1:00A3.F291.0004"))).toMatchObject({ status: 422, code: "invalid_target" });
    expect(await failure(b.resolve("Not_A_Name"))).toMatchObject({ status: 400, code: "invalid_target" });
  });

  it("cannot authenticate an identity that never registered, or after deregistering", async () => {
    expect(await failure(newClient().authenticate())).toMatchObject({ status: 401, code: "node_not_registered" });
    const identity = Identity.generate();
    const client = newClient(identity);
    await client.register();
    await client.deregister();
    expect(await failure(newClient(identity).self())).toMatchObject({ code: "node_not_registered" });
  });
});

describe("the registry client against things that are not a registry", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(req.url?.includes("challenge") ? 200 : 502, { "content-type": "text/html" });
      res.end("<html>not a registry</html>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("says bad_response when the answer is not the registry's", async () => {
    const client = new RegistryClient({ url, identity: Identity.generate() });
    expect(await failure(client.register())).toMatchObject({ code: "bad_response", status: 200 });
    expect(await failure(client.self())).toMatchObject({ code: "bad_response" });
  });

  it("says unreachable, with what to check, when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(new RegistryClient({ url: `http://127.0.0.1:${port}`, identity: Identity.generate() }).register());
    expect(err.code).toBe("unreachable");
    expect(err.hint).toMatch(/pilotctl config/);
  });

  it("says unreachable when the connection fails or times out partway through an answer", async () => {
    // The first answer is cut off, the next ones stall.
    let answers = 0;
    const partway = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"challenge":');
      if (answers++ === 0) res.socket?.destroy();
    });
    await new Promise<void>((resolve) => partway.listen(0, "127.0.0.1", resolve));
    const at = `http://127.0.0.1:${(partway.address() as AddressInfo).port}`;
    try {
      const client = new RegistryClient({ url: at, identity: Identity.generate(), timeoutMs: 300 });
      expect(await failure(client.register())).toMatchObject({ code: "unreachable", message: expect.stringMatching(/connection failed/) });
      expect(await failure(client.resolve("agent-b"))).toMatchObject({ code: "unreachable", message: expect.stringMatching(/timed out/) });
    } finally {
      partway.closeAllConnections();
      await new Promise<void>((resolve) => partway.close(() => resolve()));
    }
  });
});
