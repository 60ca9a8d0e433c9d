/**
 * The network page's tags, port policy and "why" check in real headless Chromium against a real
 * local registry, with members that are real daemons. The first test needs only the page and the
 * members; the second drives the policy API end to end.
 */
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Cluster, type Daemon } from "../../daemon/test/e2e/cluster.ts";

const SHOTS = "artifacts/console";
// Waits are bounded by the conditions they wait for; the deadline only guards against hangs.
const WAIT = { timeout: 30_000 };
const cluster = new Cluster();
let browser: Browser;
let page: Page;
let networkId: number;
let web: Daemon, api: Daemon, db: Daemon;
/** A call to the registry's API as the owner, outside the page. */
let call: <T>(method: string, path: string, body: object) => Promise<T>;
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await cluster.start();
  const url = cluster.registry.url;
  // An owner with a session, an enrollment key, a network, and three of its agents as members.
  const signUp = await fetch(`${url}/v1/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "policy-owner@example.com", password: "correct horse battery" }),
  });
  const { csrf_token } = (await signUp.json()) as { csrf_token: string };
  const session = /pilot_session=([^;]+)/.exec(signUp.headers.get("set-cookie")!)![1]!;
  call = async <T>(method: string, path: string, body: object) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", cookie: `pilot_session=${session}`, "x-csrf-token": csrf_token },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const { key } = await call<{ key: string }>("POST", "/v1/account/enrollment-keys", { description: "policy agents", reusable: true });
  const agent = (name: string) => cluster.daemon(name, "--enroll", key, "--hostname", name);
  [web, api, db] = await Promise.all([agent("web-1"), agent("api-1"), agent("db-1")]);
  ({ network_id: networkId } = await call<{ network_id: number }>("POST", "/v1/networks", { name: "shop", join_rule: "invite" }));
  for (const d of [web, api, db]) await call("POST", `/v1/networks/${networkId}/members`, { node: String(d.nodeId) });

  browser = await chromium.launch({
    executablePath: inject("chromiumPath"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.addCookies([{ name: "pilot_session", value: session, url }]);
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  await browser?.close();
  await cluster.stop();
});

const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const text = (selector: string) => () => page.textContent(selector);
const rule = (n: number, field: string) => page.locator(`[data-rules] tbody tr:nth-child(${n}) input[name="${field}"]`);
/** A cell of the tag matrix, by source and destination tag. */
const matrixCell = (from: string, to: string) => () => page.locator(`[data-matrix] tr[data-from="${from}"] td[data-to="${to}"]`).textContent();
/** What a member may open to the node chosen in the preview. */
const mayOpen = (d: Daemon) => () => page.locator(`[data-toward] tr[data-node-id="${d.nodeId}"] [data-col="may-open"]`).textContent();
const effective = (d: Daemon) => () => page.locator(`[data-member-tags] tr[data-node-id="${d.nodeId}"] [data-effective]`).textContent();
/** A member's tags field as assistive technology reads it: "true" while the tags typed there stand refused. */
const tagsInvalid = (d: Daemon) => () => page.locator(`[data-member-tags] tr[data-node-id="${d.nodeId}"] input[name="tags"]`).getAttribute("aria-invalid");
/** The tags a member's agent asked for, as its row shows them. */
const requested = (d: Daemon) => () => page.locator(`[data-member-tags] tr[data-node-id="${d.nodeId}"] td`).nth(1).textContent();

async function addRule(from: string, to: string, ports: string, protocols: ("stream" | "datagram")[]) {
  await page.click("[data-policy-add]");
  const n = await page.locator("[data-rules] tbody tr").count();
  await rule(n, "from").fill(from);
  await rule(n, "to").fill(to);
  await rule(n, "ports").fill(ports);
  for (const p of ["stream", "datagram"] as const) await rule(n, p).setChecked(protocols.includes(p));
}

async function setTags(d: Daemon, tags: string) {
  const row = page.locator(`[data-member-tags] tr[data-node-id="${d.nodeId}"]`);
  await row.locator('input[name="tags"]').fill(tags);
  await row.locator("[data-save-tags]").click();
}

async function why(from: Daemon, to: Daemon, port: number, protocol: "stream" | "datagram") {
  await page.selectOption("#why-from", String(from.nodeId));
  await page.selectOption("#why-to", String(to.nodeId));
  await page.fill("#why-port", String(port));
  await page.selectOption("#why-protocol", protocol);
  await page.$eval("[data-why-result]", (el) => (el.textContent = ""));
  await page.click('[data-why-form] button[type="submit"]');
  await expect.poll(text("[data-why-result]"), WAIT).not.toBe("");
  return page.textContent("[data-why-result]");
}

describe("the console's port policy", () => {
  it("drafts rules and previews who may reach whom before saving, refusing what is no rule, even when the registry cannot give the policy", async () => {
    // A registry that cannot answer the policy route: the section says so, the rest of the page works.
    const policyUrl = `${cluster.registry.url}/v1/networks/${networkId}/policy`;
    await page.route(policyUrl, (route) =>
      route.request().method() === "GET"
        ? route.fulfill({ status: 404, contentType: "application/json", body: JSON.stringify({ error: { code: "route_not_found", message: "no route for GET" } }) })
        : route.fallback(),
    );
    await page.goto(`${cluster.registry.url}/console/networks/${networkId}`);
    await expect.poll(text("[data-policy-status]"), WAIT).toContain("The policy could not be loaded (no route for GET). You can still draft rules");
    await expect.poll(text("[data-live]"), WAIT).toContain("Live");
    expect(await page.locator("[data-members] tbody tr").count()).toBe(3);
    expect(await page.locator("[data-member-tags] tbody tr").count()).toBe(3);
    expect(await page.isVisible("[data-rules-empty]")).toBe(true);
    expect(await page.textContent("[data-preview-note]")).toContain("No rules: every member may open every port");
    await page.selectOption("#preview-node", String(db.nodeId));
    expect(await mayOpen(web)()).toBe("all ports, stream and datagram");

    // A rule between tags nobody carries yet: allowed, with a warning, and the matrix shows it.
    await addRule("frontend", "api", "80, 443 8000-8999", ["stream"]);
    expect(await page.textContent("[data-rules] tbody tr th")).toBe("1");
    await expect.poll(matrixCell("frontend", "api")).toBe("stream 80, 443, 8000-8999");
    expect(await matrixCell("api", "frontend")()).toBe("—");
    expect(await page.textContent("[data-policy-warning]")).toBe('No member carries "api", "frontend" yet: rules naming them grant nothing until a member has them.');
    // The members carry no tags: none of them may open anything of db-1's.
    expect(await mayOpen(web)()).toBe("—");
    expect(await page.textContent("[data-policy-status]")).toContain("could not be loaded");

    // What cannot be a rule is refused in words, on the field, and the preview waits for a fix.
    const error = text("[data-policy-error]");
    for (const [ports, reason] of [
      ["0", 'Rule 1: "0" is not a port: ports are 1-65535.'],
      ["65536", 'Rule 1: "65536" is not a port: ports are 1-65535.'],
      ["9000-8000", 'Rule 1: "9000-8000": a range runs from the lower port to the higher.'],
      ["", "Rule 1: name at least one port, for example 80, 443 or 8000-8999."],
    ]) {
      await rule(1, "ports").fill(ports!);
      expect(await error()).toBe(reason);
      expect(await rule(1, "ports").getAttribute("aria-invalid")).toBe("true");
      expect(await page.textContent("[data-preview-note]")).toBe("Fix the rules above to see the preview.");
      expect(await page.isVisible("[data-matrix]")).toBe(false);
    }
    await rule(1, "ports").fill("80, 443");
    await rule(1, "from").fill("Frontend");
    expect(await error()).toContain("Rule 1: from: a tag is 1-32 lowercase letters");
    await rule(1, "from").fill("frontend");
    await rule(1, "stream").uncheck();
    expect(await error()).toBe("Rule 1: tick stream, datagram or both.");
    await rule(1, "stream").check();
    expect(await error()).toBe("");
    expect(await rule(1, "ports").getAttribute("aria-invalid")).toBeNull();

    // Any member may send datagrams to port 1001 of any other: the untagged members get it too.
    await addRule("*", "*", "1001", ["datagram"]);
    await expect.poll(mayOpen(web)).toBe("datagram 1001");
    expect(await matrixCell("(no tags)", "(no tags)")()).toBe("datagram 1001");
    expect(await matrixCell("frontend", "api")()).toBe("stream 80, 443 · datagram 1001");
    await shot("policy-draft");
    // Without the first rule no rule names a tag: the warning goes.
    await page.locator('[data-rules] button[aria-label="Remove rule 1"]').click();
    expect(await page.locator("[data-rules] tbody tr").count()).toBe(1);
    expect(await page.textContent("[data-policy-warning]")).toBe("");
    expect(await page.locator("[data-matrix] tr[data-from]").count()).toBe(1);
    await page.unroute(policyUrl);
    expect(pageErrors).toEqual([]);
  });

  it("tags members, saves a policy, and explains what it allows and why", async () => {
    await page.goto(`${cluster.registry.url}/console/networks/${networkId}`);
    await expect.poll(text("[data-policy-status]"), WAIT).toMatch(/^Saved \(revision \d+\)/);
    expect(await page.locator("[data-rules] tbody tr").count()).toBe(0);
    expect(await why(web, api, 22, "stream")).toBe("Allowed: web-1 → api-1, stream port 22. This network has no rules, so its members reach every port of each other.");

    // The owner tags two members; a malformed tag is refused before anything is sent.
    await setTags(web, "frontend");
    await expect.poll(text("[data-tags-result]"), WAIT).toBe("Tags of web-1 saved: frontend.");
    await setTags(api, "api");
    await expect.poll(text("[data-tags-result]"), WAIT).toBe("Tags of api-1 saved: api.");
    expect(await effective(web)()).toBe("frontend");
    await setTags(db, "Bad_Tag");
    await expect.poll(text("[data-tags-error]")).toContain('"Bad_Tag" is not a tag');
    expect(await tagsInvalid(db)()).toBe("true");

    // A change made elsewhere comes in live and rebuilds the rows; the refusal stays on screen
    // through it (a live change used to wipe it), and so does the refused field's invalid mark.
    await call("PUT", `/v1/networks/${networkId}/members/${web.nodeId}/tags`, { tags: ["edge", "frontend"] });
    await expect.poll(effective(web), WAIT).toContain("edge");
    expect(await text("[data-tags-error]")()).toContain('"Bad_Tag" is not a tag');
    expect(await tagsInvalid(db)()).toBe("true");
    expect(await tagsInvalid(web)()).toBeNull();
    await call("PUT", `/v1/networks/${networkId}/members/${web.nodeId}/tags`, { tags: ["frontend"] });
    await expect.poll(effective(web), WAIT).toBe("frontend");

    // The agent's own request shows, and counts only if the draft lets agents tag themselves.
    await api.run("set-tags", "admin");
    await page.reload();
    // The policy loads after the members: ticking the box before it has would be undone by it.
    await expect.poll(text("[data-policy-status]"), WAIT).toMatch(/^Saved \(revision \d+\)/);
    await expect.poll(requested(api), WAIT).toBe("admin");
    expect(await effective(api)()).toBe("api");
    await page.check("[data-self-tagging]");
    expect(await effective(api)()).toBe("admin, api");
    expect(await page.textContent("[data-policy-status]")).toContain("Unsaved changes");
    await page.uncheck("[data-self-tagging]");

    await addRule("frontend", "api", "80, 443", ["stream"]);
    await addRule("*", "*", "1001", ["datagram"]);
    await addRule("api", "db", "5432", ["stream"]);
    expect(await page.textContent("[data-policy-warning]")).toBe('No member carries "db" yet: rules naming it grant nothing until a member has it.');
    await page.selectOption("#preview-node", String(api.nodeId));
    expect(await mayOpen(web)()).toBe("stream 80, 443 · datagram 1001");
    expect(await mayOpen(db)()).toBe("datagram 1001");
    await shot("policy-preview");

    await page.click("[data-policy-save]");
    await expect.poll(text("[data-policy-status]"), WAIT).toMatch(/^Saved \(revision \d+\): connected agents apply it now\.$/);
    await page.reload();
    await expect.poll(() => page.locator("[data-rules] tbody tr").count(), WAIT).toBe(3);
    expect(await rule(1, "ports").inputValue()).toBe("80, 443");
    expect(await rule(1, "datagram").isChecked()).toBe(false);

    // The registry's answer, with the rule that grants it.
    expect(await why(web, api, 443, "stream")).toBe("Allowed: web-1 → api-1, stream port 443, by rule 1 (frontend → api, stream 80, 443).");
    expect(await why(db, web, 1001, "datagram")).toBe("Allowed: db-1 → web-1, datagram port 1001, by rule 2 (* → *, datagram 1001).");
    expect(await why(web, api, 22, "stream")).toBe(
      "Not allowed through this network: web-1 → api-1, stream port 22. No rule lets frontend open it on api. Trust made by handshake, or another network they share, may still let it through.",
    );
    expect(await why(api, web, 443, "stream")).toContain("Not allowed through this network");
    // With a rule removed but not saved, the answer says what the draft would change.
    await page.locator('[data-rules] button[aria-label="Remove rule 1"]').click();
    expect(await why(web, api, 443, "stream")).toBe(
      "Allowed: web-1 → api-1, stream port 443, by rule 1 (frontend → api, stream 80, 443). With your unsaved changes it would be not allowed.",
    );
    await shot("policy-why");

    // The registry's refusal shows in words, and changes nothing: 257 rules are one too many.
    await page.reload();
    await expect.poll(() => page.locator("[data-rules] tbody tr").count(), WAIT).toBe(3);
    await page.$$eval("[data-policy-add]", ([add]) => {
      for (let i = 0; i < 254; i++) (add as HTMLButtonElement).click();
    });
    await page.$$eval("[data-rules] tbody tr", (rows) =>
      rows.slice(3).forEach((row, i) => {
        for (const [name, value] of [["from", "*"], ["to", "*"], ["ports", String(2000 + i)]]) (row.querySelector(`input[name="${name}"]`) as HTMLInputElement).value = value!;
      }),
    );
    await page.dispatchEvent("[data-policy-form]", "input");
    expect(await page.textContent("[data-policy-error]")).toBe("");
    await page.click("[data-policy-save]");
    await expect.poll(text("[data-policy-error]"), WAIT).toMatch(/^Not saved: .+/);
    await page.reload();
    await expect.poll(() => page.locator("[data-rules] tbody tr").count(), WAIT).toBe(3);
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
