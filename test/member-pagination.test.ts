/** The member list of a network with 10,000 members, page by page. */
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import type { MemberPage } from "@pilot/protocol";
import { asPerson, createNetwork, errorOf, signUp, type Person } from "./helpers.ts";

const MEMBERS = 10_000;
let owner: Person;
let networkId: number;
let firstNode: number;

beforeAll(async () => {
  owner = await signUp();
  await env.DB.prepare("UPDATE accounts SET plan = 'pro' WHERE id = ?").bind(owner.accountId).run();
  networkId = (await createNetwork(owner, { join_rule: "invite" })).network_id;
  const base = (await env.DB.prepare("SELECT coalesce(max(id), 0) AS m FROM nodes").first<{ m: number }>())!.m;
  firstNode = base + 1;
  const statements = [];
  // Literal values we generate ourselves; D1 allows at most 100 bound parameters per statement.
  for (let start = 0; start < MEMBERS; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, MEMBERS - start) }, (_, i) => firstNode + start + i);
    statements.push(env.DB.prepare(`INSERT INTO nodes (id, public_key, registered_at) VALUES ${ids.map((id) => `(${id}, 'seed-key-${id}', 0)`).join(",")}`));
    statements.push(env.DB.prepare(`INSERT INTO memberships (network_id, node_id, joined_at) VALUES ${ids.map((id) => `(${networkId}, ${id}, ${id})`).join(",")}`));
  }
  statements.push(env.DB.prepare("UPDATE networks SET member_count = ? WHERE id = ?").bind(MEMBERS, networkId));
  await env.DB.batch(statements);
}, 60_000);

it("walks 10,000 members in node ID order with no gaps or repeats", async () => {
  const seen: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await asPerson(owner, `/v1/networks/${networkId}/members?limit=500${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as MemberPage;
    expect(page.members.length).toBeLessThanOrEqual(500);
    seen.push(...page.members.map((m) => m.node_id));
    cursor = page.next_cursor;
    pages++;
  } while (cursor);
  expect(pages).toBe(20);
  expect(seen).toHaveLength(MEMBERS);
  expect(seen).toEqual(Array.from({ length: MEMBERS }, (_, i) => firstNode + i));
});

it("pages 100 members by default", async () => {
  const page = (await (await asPerson(owner, `/v1/networks/${networkId}/members`)).json()) as MemberPage;
  expect(page.members).toHaveLength(100);
  expect(page.next_cursor).toBe(String(firstNode + 99));
});

it.each([["limit=0"], ["limit=501"], ["limit=abc"], ["limit=-5"], ["cursor=abc"], ["cursor=-1"], ["other=1"]])("refuses ?%s", async (query) => {
  expect(await errorOf(await asPerson(owner, `/v1/networks/${networkId}/members?${query}`))).toMatchObject({ status: 400, code: "invalid_request" });
});
