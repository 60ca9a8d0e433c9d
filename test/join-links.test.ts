/** Join links: several per network, each ending by expiry, use limit or revocation, and ended links failing like wrong tokens. */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  CUSTOM_JOIN_TOKEN_MIN_LENGTH,
  MAX_LIVE_JOIN_LINKS,
  type JoinLinkList,
  type Network,
  type NetworkJoinLink,
} from "@pilot/protocol";
import { matchingLink, type LiveLink } from "../worker/networks/join-links.ts";
import { WRONG_TOKENS_PER_MINUTE } from "../worker/networks/wrong-tokens.ts";
import { asPerson, awaitFreshRateWindow, createNetwork, errorOf, join, register, signUp, type Person } from "./helpers.ts";

const links = (owner: Person, id: number) => asPerson(owner, `/v1/networks/${id}/links`);
const linkList = async (owner: Person, id: number) => ((await (await links(owner, id)).json()) as JoinLinkList).links;
const createLink = (owner: Person, id: number, body: Record<string, unknown>) => asPerson(owner, `/v1/networks/${id}/links`, { body });
const revoke = (owner: Person, id: number, linkId: number) => asPerson(owner, `/v1/networks/${id}/links/${linkId}`, { method: "DELETE" });

async function newLink(owner: Person, id: number, body: Record<string, unknown>): Promise<NetworkJoinLink> {
  const res = await createLink(owner, id, body);
  if (res.status !== 201) throw new Error(`create link failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as NetworkJoinLink;
}

/** What a wrong token gets: every ended link must get exactly this. */
async function wrongTokenBody(networkId: number): Promise<string> {
  const res = await join(await register(), networkId, "no-such-token-at-all");
  expect(res.status).toBe(403);
  return res.text();
}

describe("join links", () => {
  it("start with the network's token as its default link, which rotation replaces while other links keep working", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [first] = await linkList(owner, net.network_id);
    expect(first).toMatchObject({ label: "default", default: true, state: "live", token: net.join!.token, uses: 0, max_uses: null, uses_left: null, expires_at: null, revoked_at: null });
    expect(first!.command).toBe(net.join!.command);
    expect(first!.url).toBe(net.join!.url);

    const extra = await newLink(owner, net.network_id, { label: "ci runners" });
    expect(extra.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const rotated = (await (await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} })).json()) as Network;
    expect(rotated.join!.token).not.toBe(net.join!.token);
    expect((await join(await register(), net.network_id, net.join!.token)).status).toBe(403);
    expect((await join(await register(), net.network_id, extra.token)).status).toBe(200);
    expect((await join(await register(), net.network_id, rotated.join!.token)).status).toBe(200);
    const after = await linkList(owner, net.network_id);
    expect(after.map((l) => [l.label, l.default, l.state, l.uses])).toEqual([
      ["default", true, "live", 1],
      ["ci runners", false, "live", 1],
      ["default", true, "revoked", 0],
    ]);
  });

  it("count uses and stop at the limit, answering a used-up link exactly like a wrong token", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const link = await newLink(owner, net.network_id, { label: "two seats", max_uses: 2 });
    expect(link).toMatchObject({ uses: 0, max_uses: 2, uses_left: 2, state: "live" });
    const [a, b, c] = [await register(), await register(), await register()];
    expect((await join(a, net.network_id, link.token)).status).toBe(200);
    // A member presenting the link again is already in: no use is spent.
    expect((await join(a, net.network_id, link.token)).status).toBe(200);
    expect((await linkList(owner, net.network_id)).find((l) => l.link_id === link.link_id)).toMatchObject({ uses: 1, uses_left: 1 });
    expect((await join(b, net.network_id, link.token)).status).toBe(200);
    const refused = await join(c, net.network_id, link.token);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toBe(await wrongTokenBody(net.network_id));
    expect((await linkList(owner, net.network_id)).find((l) => l.link_id === link.link_id)).toMatchObject({ uses: 2, uses_left: 0, state: "used_up" });
    // The default link is untouched.
    expect((await join(c, net.network_id, net.join!.token)).status).toBe(200);
    const audit = (await (await asPerson(owner, `/v1/networks/${net.network_id}/audit`)).json()) as { entries: { action: string; target_name: string | null }[] };
    expect(audit.entries.filter((e) => e.action === "member_joined").map((e) => e.target_name)).toEqual(["default", "two seats", "two seats"]);
  });

  it("never exceed the limit when joins race for the last use", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const link = await newLink(owner, net.network_id, { label: "last seats", max_uses: 3 });
    const nodes = await Promise.all(Array.from({ length: 8 }, () => register()));
    const replies = await Promise.all(nodes.map((n) => join(n, net.network_id, link.token)));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 403)).toHaveLength(5);
    expect(await errorOf(replies.find((r) => r.status === 403)!)).toMatchObject({ code: "join_denied" });
    expect((await linkList(owner, net.network_id)).find((l) => l.link_id === link.link_id)).toMatchObject({ uses: 3, uses_left: 0 });
    expect(((await (await asPerson(owner, `/v1/networks/${net.network_id}`)).json()) as Network).members).toBe(3);
  });

  it("stop at their expiry, answering like a wrong token", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const link = await newLink(owner, net.network_id, { label: "for an hour", expires_at: expiresAt });
    expect(link).toMatchObject({ expires_at: expiresAt, state: "live" });
    expect((await join(await register(), net.network_id, link.token)).status).toBe(200);
    // The hour passes.
    await env.DB.prepare("UPDATE join_links SET expires_at = ? WHERE id = ?").bind(Date.now() - 1, link.link_id).run();
    const late = await join(await register(), net.network_id, link.token);
    expect(late.status).toBe(403);
    expect(await late.text()).toBe(await wrongTokenBody(net.network_id));
    expect((await linkList(owner, net.network_id)).find((l) => l.link_id === link.link_id)).toMatchObject({ state: "expired", uses: 1 });
  });

  it("revoke one at a time: the revoked link answers like a wrong token, the others keep joining", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const a = await newLink(owner, net.network_id, { label: "team a", token: "team-a-token-x" });
    const b = await newLink(owner, net.network_id, { label: "team b" });
    expect((await revoke(owner, net.network_id, a.link_id)).status).toBe(204);
    const refused = await join(await register(), net.network_id, "team-a-token-x");
    expect(refused.status).toBe(403);
    expect(await refused.text()).toBe(await wrongTokenBody(net.network_id));
    expect((await join(await register(), net.network_id, b.token)).status).toBe(200);
    expect((await join(await register(), net.network_id, net.join!.token)).status).toBe(200);
    // Revoking again changes nothing; a link the network does not have is not found.
    expect((await revoke(owner, net.network_id, a.link_id)).status).toBe(204);
    expect(await errorOf(await revoke(owner, net.network_id, 999_999))).toMatchObject({ status: 404, code: "join_link_not_found" });
    const listed = await linkList(owner, net.network_id);
    expect(listed.find((l) => l.link_id === a.link_id)).toMatchObject({ state: "revoked" });
    expect(listed.find((l) => l.link_id === a.link_id)!.revoked_at).not.toBeNull();
    // A revoked link's token may be given to a new link.
    expect((await newLink(owner, net.network_id, { label: "team a again", token: "team-a-token-x" })).state).toBe("live");
  });

  it("revoking the default link leaves the network without join instructions until a rotation", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const [first] = await linkList(owner, net.network_id);
    expect((await revoke(owner, net.network_id, first!.link_id)).status).toBe(204);
    expect(((await (await asPerson(owner, `/v1/networks/${net.network_id}`)).json()) as Network).join).toBeNull();
    const rotated = (await (await asPerson(owner, `/v1/networks/${net.network_id}/token`, { body: {} })).json()) as Network;
    expect((await join(await register(), net.network_id, rotated.join!.token)).status).toBe(200);
  });

  it("refuse a rotation to another live link's token, and one that would pass the live-link limit", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const rotate = (body: object) => asPerson(owner, `/v1/networks/${net.network_id}/token`, { body });
    await newLink(owner, net.network_id, { label: "kept", token: "kept-token-xyz" });
    expect(await errorOf(await rotate({ token: "kept-token-xyz" }))).toMatchObject({ status: 409, code: "join_link_token_taken" });
    // Nothing changed: the default link still joins.
    expect((await join(await register(), net.network_id, net.join!.token)).status).toBe(200);
    // Rotating to the default link's own token is a fresh default link with the same token.
    expect(((await (await rotate({ token: "fresh-default-1" })).json()) as Network).join!.token).toBe("fresh-default-1");
    expect((await rotate({ token: "fresh-default-1" })).status).toBe(200);

    const [first] = (await linkList(owner, net.network_id)).filter((l) => l.default && l.state === "live");
    expect((await revoke(owner, net.network_id, first!.link_id)).status).toBe(204);
    for (let i = 1; i < MAX_LIVE_JOIN_LINKS; i++) await newLink(owner, net.network_id, { label: `link ${i}` });
    expect(await errorOf(await rotate({}))).toMatchObject({ status: 409, code: "join_link_limit" });
  });

  it("count ended links' tokens towards the network's wrong-token throttle", { timeout: 30_000 }, async () => {
    await awaitFreshRateWindow();
    const owner = await signUp();
    const net = await createNetwork(owner);
    const link = await newLink(owner, net.network_id, { label: "one", max_uses: 1 });
    expect((await join(await register(), net.network_id, link.token)).status).toBe(200);
    const guessers = await Promise.all(Array.from({ length: 3 }, () => register()));
    const statuses: number[] = [];
    for (let i = 0; i <= WRONG_TOKENS_PER_MINUTE; i++) statuses.push((await join(guessers[i % 3]!, net.network_id, link.token)).status);
    expect(statuses.slice(0, WRONG_TOKENS_PER_MINUTE).every((s) => s === 403)).toBe(true);
    expect(statuses[WRONG_TOKENS_PER_MINUTE]).toBe(429);
  });

  it(`hold at most ${MAX_LIVE_JOIN_LINKS} live links, and make room when one is revoked`, async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const made = [];
    for (let i = 1; i < MAX_LIVE_JOIN_LINKS; i++) made.push(await newLink(owner, net.network_id, { label: `link ${i}` }));
    expect(await errorOf(await createLink(owner, net.network_id, { label: "one too many" }))).toMatchObject({ status: 409, code: "join_link_limit" });
    expect((await revoke(owner, net.network_id, made[0]!.link_id)).status).toBe(204);
    expect((await createLink(owner, net.network_id, { label: "room again" })).status).toBe(201);
  });

  it("list every live link however much history came after it, and the 100 newest ended ones", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    // 120 links made and revoked since the default link.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
       INSERT INTO join_links (network_id, token, label, created_at, revoked_at) SELECT ?1, 'old-token-' || i, 'old ' || i, ?2, ?2 FROM n`,
    )
      .bind(net.network_id, Date.now())
      .run();
    const listed = await linkList(owner, net.network_id);
    expect(listed).toHaveLength(101);
    expect(listed.at(-1)).toMatchObject({ label: "default", state: "live" });
    expect(listed[0]).toMatchObject({ label: "old 120", state: "revoked" });
    expect(listed.at(-2)).toMatchObject({ label: "old 21" });
  });

  const past = () => new Date(Date.now() - 1000).toISOString();
  const farFuture = () => new Date(Date.now() + 11 * 366 * 86_400_000).toISOString();
  it.each([
    ["an expiry in the past", () => ({ label: "x", expires_at: past() })],
    ["an expiry beyond ten years", () => ({ label: "x", expires_at: farFuture() })],
  ])("refuse %s, which the schema cannot state, with 422, changing nothing", async (_, body) => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const before = await linkList(owner, net.network_id);
    const err = await errorOf(await createLink(owner, net.network_id, body()));
    expect(err).toMatchObject({ status: 422, code: "invalid_request" });
    expect(err.message).toMatch(/^expires_at\b/);
    expect(await linkList(owner, net.network_id)).toEqual(before);
  });

  it.each([
    ["an expiry that is not a time", () => ({ label: "x", expires_at: "tomorrow" })],
    ["an expiry with an offset other than Z", () => ({ label: "x", expires_at: "2030-01-01T00:00:00+01:00" })],
    ["max_uses 0", () => ({ label: "x", max_uses: 0 })],
    ["max_uses -1", () => ({ label: "x", max_uses: -1 })],
    ["max_uses 1.5", () => ({ label: "x", max_uses: 1.5 })],
    ["a huge max_uses", () => ({ label: "x", max_uses: 1e12 })],
    ["max_uses as a string", () => ({ label: "x", max_uses: "5" })],
    [`a custom token of ${CUSTOM_JOIN_TOKEN_MIN_LENGTH - 1} characters`, () => ({ label: "x", token: "a".repeat(CUSTOM_JOIN_TOKEN_MIN_LENGTH - 1) })],
    ["a custom token starting with -", () => ({ label: "x", token: "-abcdefghijkl" })],
    ["a custom token with a space", () => ({ label: "x", token: "abcdef ghijkl" })],
    ["a custom token of 129 characters", () => ({ label: "x", token: "a".repeat(129) })],
    ["no label", () => ({})],
    ["an empty label", () => ({ label: "" })],
    ["a label of 65 characters", () => ({ label: "x".repeat(65) })],
    ["a label with a control character", () => ({ label: "bell\u0007" })],
    ["a label with a newline", () => ({ label: "two\nlines" })],
    ["a label with a leading space", () => ({ label: " padded" })],
    ["an unknown field", () => ({ label: "x", uses: 5 })],
  ])("refuse %s with a clear error, changing nothing", async (_, body) => {
    const owner = await signUp();
    const net = await createNetwork(owner);
    const before = await linkList(owner, net.network_id);
    const err = await errorOf(await createLink(owner, net.network_id, body()));
    expect(err).toMatchObject({ status: 400, code: "invalid_request" });
    expect(err.message).toMatch(/^(label|token|expires_at|max_uses|body)\b|unknown field/);
    expect(await linkList(owner, net.network_id)).toEqual(before);
  });

  it("refuse a token another live link holds, and links on an invite-only network", async () => {
    const owner = await signUp();
    const net = await createNetwork(owner, { token: "shared-token-1" });
    expect(await errorOf(await createLink(owner, net.network_id, { label: "dup", token: "shared-token-1" }))).toMatchObject({
      status: 409,
      code: "join_link_token_taken",
    });
    // Pro, for a second network.
    await env.DB.prepare("UPDATE accounts SET plan = 'pro' WHERE id = (SELECT account_id FROM networks WHERE id = ?)").bind(net.network_id).run();
    const invite = await createNetwork(owner, { join_rule: "invite" });
    expect(await errorOf(await createLink(owner, invite.network_id, { label: "x" }))).toMatchObject({ status: 409, code: "network_invite_only" });
    expect(await linkList(owner, invite.network_id)).toEqual([]);
  });
});

describe("the token comparison", () => {
  afterEach(() => vi.restoreAllMocks());

  const live = (n: number): LiveLink[] => Array.from({ length: n }, (_, i) => ({ id: i + 1, token: `token-number-${i}`, label: `l${i}` }));

  it("does the same work whether no link, the first, the last or none of them matches, and with no links at all", async () => {
    const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
    const work = async (token: string, candidates: LiveLink[]) => {
      compare.mockClear();
      const found = await matchingLink(token, candidates);
      return { found: found?.id, comparisons: compare.mock.calls.length };
    };
    const three = live(3);
    const results = [
      await work("token-number-0", three),
      await work("token-number-2", three),
      await work("wrong-token-xx", three),
      await work("token-number-0", []),
    ];
    expect(results.map((r) => r.found)).toEqual([1, 3, undefined, undefined]);
    expect(new Set(results.map((r) => r.comparisons))).toEqual(new Set([MAX_LIVE_JOIN_LINKS]));
  });

  it("compares with every candidate when there are more than the limit", async () => {
    const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
    const many = live(MAX_LIVE_JOIN_LINKS + 3);
    expect((await matchingLink(`token-number-${MAX_LIVE_JOIN_LINKS + 2}`, many))?.id).toBe(MAX_LIVE_JOIN_LINKS + 3);
    expect(compare).toHaveBeenCalledTimes(MAX_LIVE_JOIN_LINKS + 3);
  });

  it("makes a custom token long enough that guessing any live link in 100 years under the throttle stays below 1e-9", () => {
    const guesses = WRONG_TOKENS_PER_MINUTE * 60 * 24 * 365.25 * 100;
    const chance = (length: number) => (guesses * MAX_LIVE_JOIN_LINKS) / 66 ** length;
    expect(chance(CUSTOM_JOIN_TOKEN_MIN_LENGTH)).toBeLessThan(1e-9);
    // And the floor is the shortest that does: one less would not.
    expect(chance(CUSTOM_JOIN_TOKEN_MIN_LENGTH - 1)).toBeGreaterThan(1e-9);
  });
});
