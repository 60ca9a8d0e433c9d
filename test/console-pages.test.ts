/** The console's pages must not trust their data: every string is escaped. */
import { expect, it } from "vitest";
import { AccountPage, AuthPage, KeysPage, NetworkPage, NetworksPage, SuspendedPage, TrailPage } from "../worker/console/pages.tsx";

it("escapes every string it shows, even ones the API would refuse", async () => {
  // The API refuses such names, so render a page with them directly: the page must not trust its data.
  const evil = '<img src=x onerror="alert(1)">';
  const html = String(
    NetworkPage({
      csrf: '"><script>alert(2)</script>',
      email: evil,
      network: { network_id: 1, name: evil, join_rule: "invite", members: 1, max_members: 5, created_at: new Date().toISOString(), join: null },
      links: [
        {
          link_id: 1,
          label: evil,
          default: false,
          state: "live",
          token: evil,
          command: evil,
          url: "https://x.example/",
          uses: 0,
          max_uses: null,
          uses_left: null,
          expires_at: null,
          created_at: new Date().toISOString(),
          revoked_at: null,
        },
      ],
      members: [{ node_id: 7, address: evil, hostname: evil, online: true, endpoint: evil, lan_addrs: [], capabilities: [evil], joined_at: new Date().toISOString(), tags: [], requested_tags: [], effective_tags: [] }],
      audit: [{ id: 1, actor: { type: "account", id: 1 }, action: evil, target_node_id: null, target_name: evil, at: new Date().toISOString() }],
      revocations: [
        { revocation_id: "rv_AAAAAAAAAAAAAAAAAAAAAA", kind: "removed", node_id: 7, created_at: new Date().toISOString(), expected: 3, confirmed: 2, slowest_ms: 34, pending: [9] },
        { revocation_id: "rv_BBBBBBBBBBBBBBBBBBBBBB", kind: "policy", node_id: null, created_at: new Date().toISOString(), expected: 3, confirmed: 3, slowest_ms: 12, pending: [] },
        { revocation_id: "rv_CCCCCCCCCCCCCCCCCCCCCC", kind: "policy", node_id: 7, created_at: new Date().toISOString(), expected: 3, confirmed: 1, slowest_ms: null, pending: [8, 9] },
      ],
    }),
  );
  expect(html).toContain("node 7 removed · 2 of 3 members confirmed cut-off · slowest 34 ms");
  expect(html).toContain("Not confirmed yet: node 9");
  expect(html).toContain("policy changed · 3 of 3 members confirmed · slowest 12 ms");
  expect(html).toContain("node 7&#39;s tags changed · 1 of 3 members confirmed");
  const others = [
    NetworksPage({
      csrf: evil,
      email: evil,
      plan: { plan: evil, max_networks: 1, max_members: 5, networks: 1 },
      howToGetMore: evil,
      networks: [{ network_id: 1, name: evil, join_rule: "token", members: 0, max_members: 5, created_at: new Date().toISOString(), join: { token: evil, command: evil, daemon: evil, url: "https://x.example/" } }],
    }),
    KeysPage({
      csrf: evil,
      email: evil,
      keys: [{ id: 1, description: evil, reusable: true, max_uses: null, uses: 0, expires_at: null, revoked_at: null, created_at: new Date().toISOString() }],
      tokens: [{ id: 1, name: evil, created_at: new Date().toISOString(), revoked_at: null }],
    }),
    AuthPage({ mode: "sign-in" }),
    TrailPage({ csrf: evil, email: evil, networkId: 1, entries: [{ id: 1, actor: { type: "node", id: 2 }, action: evil, target_node_id: null, target_name: evil, at: new Date().toISOString() }], next: null }),
    AccountPage({
      csrf: evil,
      email: evil,
      plan: { plan: evil, max_networks: 1, max_members: 5, networks: 1 },
      entries: [
        { id: 2, actor: { type: "account" }, action: "network_deleted", network_id: 1, target_id: null, target_name: evil, ip: null, at: new Date().toISOString() },
        { id: 1, actor: { type: "anonymous" }, action: "sign_in_failed", network_id: null, target_id: null, target_name: null, ip: evil, at: new Date().toISOString() },
      ],
      next: null,
      retentionDays: 365,
    }),
    SuspendedPage({ csrf: evil, email: evil, message: evil }),
  ].map(String);
  for (const page of [html, ...others]) {
    expect(page).not.toContain("<img");
    expect(page).not.toContain("<script>alert");
  }
  expect(html).toContain("&lt;img");
  for (const i of [1, 3, 4, 5]) expect(others[i]).toContain("&lt;img");
  // A used-up plan says how to get more, in the operator's words.
  expect(others[0]).toContain("Your plan allows no more networks; &lt;img");
});
