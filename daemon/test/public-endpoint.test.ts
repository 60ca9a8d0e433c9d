/**
 * The public endpoint kept fresh: real UDP to local STUN servers, one of which answers with a
 * mapping the test chooses, as a NAT that renumbers or maps per destination would make it answer.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import type { Endpoint } from "../src/net/candidates.ts";
import { PublicEndpoint } from "../src/net/public-endpoint.ts";
import { bindingSuccess, decodeStun, looksLikeStun } from "../src/net/stun.ts";

const sockets: Socket[] = [];
afterEach(() => sockets.splice(0).forEach((s) => s.close()));

async function udp(): Promise<Socket> {
  const socket = createSocket("udp4");
  sockets.push(socket);
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return socket;
}

/** A STUN server that says the request came from `mapping.now`, whatever it came from, or is silent while that is null. */
async function scriptedServer(mapping: { now: Endpoint | null }): Promise<number> {
  const server = await udp();
  server.on("message", (msg, from) => {
    if (!looksLikeStun(msg) || !mapping.now) return;
    server.send(bindingSuccess(decodeStun(msg).transactionId, { ...mapping.now, family: 4 }), from.port, from.address);
  });
  return server.address().port;
}

async function startKeeper(ports: number[], hosts: Endpoint[] = []) {
  const socket = await udp();
  const changes: Endpoint[] = [];
  const keeper = new PublicEndpoint({ socket, servers: ports.map((port) => ({ host: "127.0.0.1", port })), hosts: () => hosts, onChange: (e) => changes.push(e), timeoutMs: 500 });
  socket.on("message", (msg) => keeper.receive(msg));
  return { keeper, changes };
}

describe("the public endpoint", () => {
  it("learns the mapping, and reports a change of it, but not the first one", async () => {
    const mapping: { now: Endpoint | null } = { now: { address: "203.0.113.2", port: 4000 } };
    const { keeper, changes } = await startKeeper([await scriptedServer(mapping)]);
    expect(await keeper.refresh()).toEqual(mapping.now);
    expect(keeper.status).toBe("ok");
    expect(await keeper.refresh()).toEqual(mapping.now);
    expect(changes).toEqual([]);
    const moved = { address: "203.0.113.12", port: 4000 };
    mapping.now = moved;
    await keeper.refresh();
    expect(changes).toEqual([moved]);
    expect(keeper.endpoint).toEqual(moved);
  });

  it("keeps the last mapping when no answer comes, and says the server is unreachable", async () => {
    const first = { address: "203.0.113.2", port: 4000 };
    const mapping: { now: Endpoint | null } = { now: first };
    const { keeper, changes } = await startKeeper([await scriptedServer(mapping)]);
    await keeper.refresh();
    mapping.now = null;
    expect(await keeper.refresh()).toEqual(first);
    expect(keeper.status).toBe("unreachable");
    expect(keeper.endpoint).toEqual(first);
    expect(changes).toEqual([]);
  });

  it("tells an endpoint-independent NAT from one that maps each destination anew, and an open address from both", async () => {
    const same = { now: { address: "203.0.113.2", port: 4000 } };
    const eim = await startKeeper([await scriptedServer(same), await scriptedServer(same)]);
    await eim.keeper.refresh();
    expect(eim.keeper.nat).toBe("endpoint-independent");
    const symmetric = await startKeeper([await scriptedServer(same), await scriptedServer({ now: { address: "203.0.113.2", port: 5123 } })]);
    await symmetric.keeper.refresh();
    expect(symmetric.keeper.nat).toBe("endpoint-dependent");
    const open = await startKeeper([await scriptedServer(same)], [same.now]);
    await open.keeper.refresh();
    expect(open.keeper.nat).toBe("none");
  });

  it("asks again only when the last answer is older than asked for", async () => {
    const mapping = { now: { address: "203.0.113.2", port: 4000 } };
    let asked = 0;
    const server = await udp();
    server.on("message", (msg, from) => {
      asked++;
      server.send(bindingSuccess(decodeStun(msg).transactionId, { ...mapping.now, family: 4 }), from.port, from.address);
    });
    const { keeper } = await startKeeper([server.address().port]);
    await keeper.refresh();
    const afterFirst = asked;
    await keeper.refresh(60_000);
    expect(asked).toBe(afterFirst);
    await keeper.refresh();
    expect(asked).toBeGreaterThan(afterFirst);
  });
});
