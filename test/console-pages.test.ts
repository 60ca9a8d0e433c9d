/** The console's pages must not trust their data: every string is escaped. */
import { expect, it } from "vitest";
import { NetworkPage } from "../worker/console/pages.tsx";

it("escapes every string it shows, even ones the API would refuse", async () => {
  // The API refuses such names, so render a page with them directly: the page must not trust its data.
  const evil = '<img src=x onerror="alert(1)">';
  const html = String(
    NetworkPage({
      csrf: '"><script>alert(2)</script>',
      email: evil,
      network: { network_id: 1, name: evil, join_rule: "invite", members: 1, max_members: 5, created_at: new Date().toISOString(), join: null },
      members: [{ node_id: 7, address: evil, hostname: evil, online: true, endpoint: evil, lan_addrs: [], capabilities: [evil], joined_at: new Date().toISOString() }],
      audit: [{ id: 1, actor: { type: "account", id: 1 }, action: evil, target_node_id: null, target_name: evil, at: new Date().toISOString() }],
    }),
  );
  expect(html).not.toContain("<img");
  expect(html).not.toContain("<script>alert");
  expect(html).toContain("&lt;img");
});
