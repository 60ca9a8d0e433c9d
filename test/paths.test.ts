/**
 * Path requests (POST /v1/paths/{target}): the caller gets what resolve would give it, and the
 * target, only when the caller may see it, is told over its channel to probe the caller back.
 */
import { describe, expect, it } from "vitest";
import { BUDGETS, SignalBudget } from "../worker/nodes/signals.ts";
import { awaitFreshRateWindow, call, createNetwork, errorOf, join, signUp, openNodeChannel, register, type Registered } from "./helpers.ts";

const askForPath = (from: Registered, target: string | number) => call(`/v1/paths/${target}`, { method: "POST", token: from.token });
const beat = (n: Registered, body: unknown) => call("/v1/nodes/self/heartbeat", { body, token: n.token });
const makePublic = (n: Registered) => call("/v1/nodes/self", { method: "PATCH", body: { public: true }, token: n.token });

describe("path requests", () => {
  it("tell a public target the caller's candidates, and answer with the target as resolve does", async () => {
    const [a, b] = [await register(), await register()];
    await makePublic(b);
    await beat(a, { endpoint: "203.0.113.7:4000", lan_addrs: ["192.168.1.2:4000", "[2001:db8::7]:4000"] });
    const channel = await openNodeChannel(b);
    await channel.next("hello");
    const res = await askForPath(a, b.nodeId);
    expect(res.status).toBe(200);
    const resolved = await call(`/v1/resolve/${b.nodeId}`, { token: a.token });
    const { last_seen: _, ...asResolved } = (await resolved.json()) as Record<string, unknown>;
    expect(await res.json()).toMatchObject(asResolved);
    expect(await channel.next("path_wanted")).toEqual({
      type: "path_wanted",
      node_id: a.nodeId,
      endpoint: "203.0.113.7:4000",
      lan_addrs: ["192.168.1.2:4000", "[2001:db8::7]:4000"],
    });
    channel.ws.close();
  });

  it("answer a stranger exactly as for a node that does not exist, and never tell the private target", async () => {
    const [stranger, b, friend] = [await register(), await register(), await register()];
    const channel = await openNodeChannel(b);
    await channel.next("hello");
    const denied = await askForPath(stranger, b.nodeId);
    const missing = await askForPath(stranger, 4_000_000_000);
    expect(denied.status).toBe(404);
    expect(await denied.text()).toBe(await missing.text());
    // A later request that is allowed arrives; the denied one never did.
    await makePublic(b);
    expect((await askForPath(friend, b.nodeId)).status).toBe(200);
    expect((await channel.next("path_wanted")).node_id).toBe(friend.nodeId);
    expect(channel.events.filter((e) => e.type === "path_wanted")).toEqual([]);
    channel.ws.close();
  });

  it("space a requester's signals however fast it asks", async () => {
    const [a, b, c] = [await register(), await register(), await register()];
    await makePublic(b);
    const channel = await openNodeChannel(b);
    await channel.next("hello");
    for (let i = 0; i < 20; i++) expect((await askForPath(a, b.nodeId)).status).toBe(200);
    // Another requester's signal is sent after whatever a's flood produced.
    await new Promise((r) => setTimeout(r, 100));
    await askForPath(c, b.nodeId);
    const fromC = () => channel.events.some((e) => e.type === "path_wanted" && e.node_id === c.nodeId);
    for (const deadline = Date.now() + 5000; !fromC() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    expect(fromC()).toBe(true);
    const fromA = channel.events.filter((e) => e.type === "path_wanted" && e.node_id === a.nodeId);
    // One a second: the 20 requests took well under a few seconds here.
    expect(fromA.length).toBeGreaterThanOrEqual(1);
    expect(fromA.length).toBeLessThanOrEqual(5);
    channel.ws.close();
  });

  it("still reach a public target from its co-members while strangers use up theirs", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [target, member] = [await register(), await register()];
    for (const n of [target, member]) expect((await join(n, net.network_id, net.join!.token)).status).toBeLessThan(300);
    await makePublic(target);
    const channel = await openNodeChannel(target);
    await channel.next("hello");
    // More strangers than even a related budget would hold.
    const strangers = await Promise.all(Array.from({ length: BUDGETS.related.perSecond + 5 }, () => register()));
    await Promise.all(strangers.map((s) => askForPath(s, target.nodeId)));
    await askForPath(member, target.nodeId);
    const fromMember = () => channel.events.some((e) => e.type === "path_wanted" && e.node_id === member.nodeId);
    for (const deadline = Date.now() + 5000; !fromMember() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    expect(fromMember()).toBe(true);
    // The strangers together got no more than their own budget.
    expect(channel.events.filter((e) => e.type === "path_wanted" && e.node_id !== member.nodeId).length).toBeLessThanOrEqual(BUDGETS.stranger.perSecond * 2);
    channel.ws.close();
  });

  it("queue nothing for a target that is offline", async () => {
    const [a, b] = [await register(), await register()];
    await makePublic(b);
    expect((await askForPath(a, b.nodeId)).status).toBe(200);
    // The signal is sent after the answer; a second later it has long been dropped, not queued.
    await new Promise((r) => setTimeout(r, 1000));
    const channel = await openNodeChannel(b);
    await channel.next("hello");
    await new Promise((r) => setTimeout(r, 200));
    expect(channel.events).toEqual([]);
    channel.ws.close();
  });

  it("are limited to 600 a minute per node", async () => {
    const [a, b] = [await register(), await register()];
    await makePublic(b);
    // All 601 requests within one window of the limiter.
    await awaitFreshRateWindow();
    let answered = 0;
    let refused: Response | undefined;
    while (!refused && answered < 700) {
      const res = await askForPath(a, b.nodeId);
      if (res.status === 429) refused = res;
      else answered++;
    }
    expect(answered).toBe(600);
    expect(await errorOf(refused!)).toMatchObject({ status: 429, code: "rate_limited" });
  }, 90_000);

  it("refuse bad targets with the resolve errors", async () => {
    const a = await register();
    expect(await errorOf(await askForPath(a, "Not_A_Name!"))).toMatchObject({ status: 400, code: "invalid_target" });
    expect((await call(`/v1/paths/${a.nodeId}`, { method: "POST" })).status).toBe(401);
  });
});

describe("the signal budget", () => {
  it("spaces each requester and caps all together per second, strangers apart from related nodes", () => {
    const budget = new SignalBudget();
    for (const kind of ["related", "stranger"] as const) {
      const { spacingMs, perSecond } = BUDGETS[kind];
      expect(budget.admit(1, kind, 0)).toBe(true);
      expect(budget.admit(1, kind, spacingMs - 1)).toBe(false);
      let admitted = 1;
      for (let from = 2; from < 200; from++) if (budget.admit(from, kind, 10)) admitted++;
      expect(admitted).toBe(perSecond);
      expect(budget.admit(1, kind, spacingMs)).toBe(true);
    }
    // A stranger's budget is narrower than a related node's.
    expect(BUDGETS.stranger.perSecond).toBeLessThan(BUDGETS.related.perSecond);
    expect(BUDGETS.stranger.spacingMs).toBeGreaterThan(BUDGETS.related.spacingMs);
  });
});

describe("the candidates a signal carries", () => {
  it("leave out the asker's private addresses unless the target is behind the same public address", async () => {
    const [asker, far, near] = [await register(), await register(), await register()];
    for (const n of [far, near]) await makePublic(n);
    await beat(asker, { endpoint: "203.0.113.7:4000", lan_addrs: ["192.168.1.2:4000", "[2001:db8::7]:4000"] });
    await beat(far, { endpoint: "198.51.100.9:4000" });
    await beat(near, { endpoint: "203.0.113.7:5000" });
    const [toFar, toNear] = [await openNodeChannel(far), await openNodeChannel(near)];
    await askForPath(asker, far.nodeId);
    await askForPath(asker, near.nodeId);
    expect((await toFar.next("path_wanted")).lan_addrs).toEqual(["[2001:db8::7]:4000"]);
    expect((await toNear.next("path_wanted")).lan_addrs).toEqual(["192.168.1.2:4000", "[2001:db8::7]:4000"]);
    toFar.ws.close();
    toNear.ws.close();
  });
});
