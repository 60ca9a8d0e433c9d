import { describe, expect, it } from "vitest";
import { RESERVED_HOSTNAMES, type SelfNode } from "@pilot/protocol";
import { awaitFreshRateWindow, call, errorOf, register, type Registered } from "./helpers.ts";

const patch = (n: Registered, body: unknown) => call("/v1/nodes/self", { method: "PATCH", body, token: n.token });

describe("hostnames", () => {
  it("can be set, changed and cleared", async () => {
    const n = await register();
    const set = (await (await patch(n, { hostname: "alpha-1" })).json()) as SelfNode;
    expect(set.hostname).toBe("alpha-1");
    const changed = (await (await patch(n, { hostname: "alpha-2" })).json()) as SelfNode;
    expect(changed.hostname).toBe("alpha-2");
    const cleared = (await (await patch(n, { hostname: null })).json()) as SelfNode;
    expect(cleared.hostname).toBeNull();
    // The released names are free for others.
    const other = await register();
    expect((await patch(other, { hostname: "alpha-1" })).status).toBe(200);
    expect((await patch(other, { hostname: "alpha-2" })).status).toBe(200);
  });

  it("setting the name a node already has is not a conflict", async () => {
    const n = await register();
    expect((await patch(n, { hostname: "same-name" })).status).toBe(200);
    expect((await patch(n, { hostname: "same-name" })).status).toBe(200);
  });

  it.each([
    ["upper case", "Alpha"],
    ["a leading hyphen", "-alpha"],
    ["a trailing hyphen", "alpha-"],
    ["an underscore", "al_pha"],
    ["a dot", "al.pha"],
    ["the empty string", ""],
    ["64 characters", "a".repeat(64)],
    ["unicode", "ålpha"],
    ["a number type", 42],
    ["all digits, which would read as a node ID", "1001"],
  ])("refuse %s", async (_, hostname) => {
    const n = await register();
    expect(await errorOf(await patch(n, { hostname }))).toMatchObject({ status: 400, code: "invalid_request" });
    const self = (await (await call("/v1/nodes/self", { token: n.token })).json()) as SelfNode;
    expect(self.hostname).toBeNull();
  });

  it("accept the longest and shortest legal names", async () => {
    const n = await register();
    expect((await patch(n, { hostname: "a".repeat(63) })).status).toBe(200);
    expect((await patch(n, { hostname: "7a" })).status).toBe(200);
    expect((await patch(n, { hostname: "q" })).status).toBe(200);
  });

  it.each([...RESERVED_HOSTNAMES].slice(0, 6))("refuse the reserved name %s", async (hostname) => {
    const n = await register();
    expect(await errorOf(await patch(n, { hostname }))).toMatchObject({ status: 400, code: "hostname_reserved" });
  });

  it("are unique: a taken name is a 409 that changes nothing", async () => {
    const a = await register();
    const b = await register();
    await patch(a, { hostname: "taken-name" });
    await patch(b, { hostname: "b-before" });
    const err = await errorOf(await patch(b, { hostname: "taken-name", public: true }));
    expect(err).toMatchObject({ status: 409, code: "hostname_taken" });
    const self = (await (await call("/v1/nodes/self", { token: b.token })).json()) as SelfNode;
    expect(self).toMatchObject({ hostname: "b-before", public: false });
  });

  it("claimed by many nodes at once go to exactly one of them", async () => {
    const contenders = await Promise.all(Array.from({ length: 12 }, () => register()));
    const replies = await Promise.all(contenders.map((n) => patch(n, { hostname: "contested" })));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(11);
    const owners = await Promise.all(
      contenders.map(async (n) => ((await (await call("/v1/nodes/self", { token: n.token })).json()) as SelfNode).hostname),
    );
    expect(owners.filter((h) => h === "contested")).toHaveLength(1);
  });

  it("an update must name something to change", async () => {
    const n = await register();
    expect(await errorOf(await patch(n, {}))).toMatchObject({ status: 400, code: "invalid_request" });
  });
});

describe("hostname claims", () => {
  it("are limited to 10 a minute per node, so a taken name's 409 cannot enumerate private hostnames", async () => {
    await awaitFreshRateWindow();
    const owner = await register();
    await patch(owner, { hostname: `private-${owner.nodeId}` });
    const prober = await register();
    // A reserved name is refused before it is counted: it spends none of the 10.
    expect(await errorOf(await patch(prober, { hostname: "localhost" }))).toMatchObject({ status: 400, code: "hostname_reserved" });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await patch(prober, { hostname: i % 2 ? `private-${owner.nodeId}` : `free-${prober.nodeId}-${i}` })).status);
    expect(statuses.slice(0, 10).sort()).toEqual([200, 200, 200, 200, 200, 409, 409, 409, 409, 409]);
    expect(await errorOf(await patch(prober, { hostname: `private-${owner.nodeId}` }))).toMatchObject({ status: 429, code: "rate_limited" });
    // And it is still refused as reserved, not as over the limit.
    expect(await errorOf(await patch(prober, { hostname: "localhost" }))).toMatchObject({ status: 400, code: "hostname_reserved" });
    // Clearing the name and visibility are not claims.
    expect((await patch(prober, { hostname: null })).status).toBe(200);
    expect((await patch(prober, { public: true })).status).toBe(200);
  });
});

describe("visibility", () => {
  it("is private by default and can be switched", async () => {
    const n = await register();
    const self = (await (await call("/v1/nodes/self", { token: n.token })).json()) as SelfNode;
    expect(self.public).toBe(false);
    expect(((await (await patch(n, { public: true })).json()) as SelfNode).public).toBe(true);
    expect(((await (await patch(n, { public: false })).json()) as SelfNode).public).toBe(false);
  });

  it.each([["a string", "yes"], ["a number", 1], ["null", null]])("refuses %s as the flag", async (_, value) => {
    const n = await register();
    expect(await errorOf(await patch(n, { public: value }))).toMatchObject({ status: 400, code: "invalid_request" });
  });
});
