/**
 * The Pilot Console in real headless Chromium (the one the global setup found, driven by
 * playwright-core) against a real local registry, with agents that are real daemon processes
 * driven through pilotctl. Screenshots of each page go to artifacts/console/.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { request } from "node:http";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Pilot } from "../../daemon/src/sdk/pilot.ts";
import { formatAddress, HOSTNAME_RULE } from "@pilot/protocol";
import { Cluster, type Daemon } from "../../daemon/test/e2e/cluster.ts";
import type { LocalRegistry } from "../../daemon/test/local-registry.ts";

const SHOTS = "artifacts/console";
// Waits are bounded by the conditions they wait for; the deadline only guards against hangs.
const WAIT = { timeout: 30_000 };
// The port the agents' datagrams go to.
const PORT = "1001";
const cluster = new Cluster();
/** The registry's operator credential, for the admin API's suspensions. */
const OPERATOR_TOKEN = randomBytes(32).toString("hex");
let registry: LocalRegistry;
let browser: Browser;
let page: Page;
/** Uncaught exceptions and unhandled rejections in the console's own script. */
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  await cluster.start({ secrets: { OPERATOR_TOKEN } });
  registry = cluster.registry;
  browser = await chromium.launch({
    executablePath: inject("chromiumPath"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on("pageerror", (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  await browser?.close();
  // Stops every daemon, removes their homes, then the STUN responder and the registry.
  await cluster.stop();
});

const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

const row = (d: Daemon) => page.locator(`tr[data-node-id="${d.nodeId}"]`);
/** A row's cell, read afresh on each call (for expect.poll). */
const cell = (d: Daemon, col: string) => () => row(d).locator(`[data-col="${col}"]`).textContent();
const status = (d: Daemon) => cell(d, "online");

/** Collects the datagrams arriving on PORT of a daemon, over its local socket. */
async function inbox(d: Daemon) {
  const pilot = await Pilot.connect(d.home);
  const got: string[] = [];
  await pilot.receiveDatagrams(Number(PORT), (m) => got.push(m.data.toString()));
  return { got, close: () => pilot.close() };
}
type Inbox = Awaited<ReturnType<typeof inbox>>;

/** Sends a datagram until one arrives: datagrams are unreliable, and a peer may hear of a membership a moment later. */
const delivered = (from: Daemon, to: Daemon, box: Inbox, text: string) =>
  expect
    .poll(async () => {
      await from.ctl("send-datagram", String(to.nodeId), PORT, "--data", text);
      return box.got;
    }, WAIT)
    .toContain(text);

/** The error code a datagram from one agent to another meets (undefined if it was sent). */
const sendError = (from: Daemon, to: Daemon) => async () => (await from.ctl("send-datagram", String(to.nodeId), PORT, "--data", "hello?")).error?.code;

/** Signs up through the API, as a script would; returns the session's cookie and CSRF token. */
async function signUp(email: string) {
  const res = await fetch(`${registry.url}/v1/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "correct horse battery" }),
  });
  const { csrf_token } = (await res.json()) as { csrf_token: string };
  return { cookie: /pilot_session=[^;]+/.exec(res.headers.get("set-cookie")!)![0], csrf: csrf_token };
}

describe("the console", () => {
  it("takes a person from sign-up to a live network of running agents and back out, refusing bad input on the way", async () => {
    // Sign up: a short password is refused in words.
    await page.goto(`${registry.url}/console`);
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
    await shot("sign-in");
    await page.click("text=Create an account");
    await page.fill("#email", "owner@example.com");
    await page.fill("#password", "short");
    await page.click('button[type="submit"]');
    await expect.poll(() => page.textContent("[data-error]")).toMatch(/at least 10 characters/);
    await page.fill("#password", "correct horse battery");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${registry.url}/console`);
    expect(await page.textContent("[data-plan]")).toContain("0 of 1 network on the free plan");
    expect(await page.textContent(".empty")).toContain("No networks yet");
    await shot("networks-empty");

    // An enrollment key, shown once, makes agents this account's.
    await page.click("text=Keys & tokens");
    await page.fill("#key-description", "lab agents");
    await page.check('input[name="reusable"]');
    await page.click('form[data-action="create-key"] button[type="submit"]');
    await expect.poll(() => page.inputValue("#new-key")).not.toBe("");
    const key = await page.inputValue("#new-key");
    expect(key).toMatch(/^pek_/);
    await page.fill("#token-name", "ci");
    await page.click('form[data-action="create-token"] button[type="submit"]');
    await expect.poll(() => page.inputValue("#new-token")).toMatch(/^pat_/);
    await shot("keys");

    // Two agents' daemons start with the key; a third, foreign one without.
    const one = await cluster.daemon("console-one", "--enroll", key);
    const two = await cluster.daemon("console-two", "--enroll", key, "--hostname", "agent-two");
    const guest = await cluster.daemon("console-guest");
    const boxes = { one: await inbox(one), two: await inbox(two) };

    // Create Network: the naming rule is checked as it is typed.
    await page.goto(`${registry.url}/console`);
    await page.fill("#name", "Bad Name");
    expect(await page.getAttribute("#name", "aria-invalid")).toBe("true");
    // The field's pattern attribute is the protocol's pattern, and the browser can compile it.
    expect(await page.$eval("#name", (el) => (el as HTMLInputElement).validity.patternMismatch)).toBe(true);
    const nameError = 'form[data-action="create-network"] [data-error]';
    expect(await page.textContent(nameError)).toContain(HOSTNAME_RULE);
    // Submitted anyway, the form refuses it itself before asking the registry: the rule shows again.
    await page.$eval(nameError, (el) => (el.textContent = ""));
    await page.click('form[data-action="create-network"] button[type="submit"]');
    await expect.poll(() => page.textContent(nameError)).toContain(HOSTNAME_RULE);
    expect(new URL(page.url()).pathname).toBe("/console");
    expect(await page.textContent("[data-plan]")).toContain("0 of 1 network");
    await page.fill("#name", "research-lab");
    await page.check('input[value="token"]');
    await page.click('form[data-action="create-network"] button[type="submit"]');
    await page.waitForURL(/\/console\/networks\/\d+$/);
    const networkId = Number(page.url().split("/").pop());
    expect(await page.inputValue("#join-daemon")).toBe(`pilotctl daemon start --registry ${registry.url}`);
    expect(await page.inputValue("#join-command")).toMatch(new RegExp(`^pilotctl join-network ${networkId} --token `));
    expect(await page.inputValue("#join-url")).toMatch(new RegExp(`/join/${networkId}#token=`));
    expect(await page.textContent("[data-empty]")).toContain("No agents yet");
    await expect.poll(() => page.textContent("[data-live]")).toContain("Live");
    await shot("network-empty");

    // Add node by node ID and by hostname; a malformed Pilot address is refused.
    const result = () => page.textContent("[data-result]");
    const add = async (name: string) => {
      await page.fill("#node", name);
      await page.click('form[data-action="add-node"] button[type="submit"]');
      await expect.poll(result).not.toBe("");
      return result();
    };
    await page.click('form[data-action="add-node"] button[type="submit"]');
    await expect.poll(() => page.textContent('form[data-action="add-node"] ~ [data-error]')).toMatch(/Enter a node ID/);
    expect(await add(String(one.nodeId))).toBe(`Added node ${one.nodeId} (${formatAddress({ network: networkId, node: one.nodeId })}).`);
    expect(await add("agent-two")).toContain(`Added node ${two.nodeId}`);
    await page.fill("#node", "1:00A3.F291.0004");
    await page.click('form[data-action="add-node"] button[type="submit"]');
    await expect.poll(() => page.textContent('form[data-action="add-node"] ~ [data-error]')).toMatch(/name the node by its node ID/);
    expect(await result()).toBe("");
    // The rows arrive live, in node order, and turn online as each running daemon opens the
    // network's channel by itself: no restart, no reload.
    await expect.poll(() => page.locator("[data-members] tbody tr").count()).toBe(2);
    expect(await cell(two, "hostname")()).toBe("agent-two");
    expect(await page.textContent("[data-count]")).toBe("2 of 5 agents");
    await expect.poll(status(one), WAIT).toBe("online");
    await expect.poll(status(two), WAIT).toBe("online");
    // Each row shows where its agent's daemon listens.
    await expect.poll(cell(one, "endpoint"), WAIT).toBe((await one.run("info"))["endpoint"]);
    await shot("network-live");
    // And the two agents reach each other, both ways.
    await delivered(one, two, boxes.two, "one to two");
    await delivered(two, one, boxes.one, "two to one");

    // Remove takes effect at once: the row goes, and the agent is cut off from its former co-member.
    await row(two).locator('button[data-action="remove-node"]').click();
    await expect.poll(() => row(two).count()).toBe(0);
    expect(await page.textContent("[data-count]")).toBe("1 of 5 agents");
    await expect.poll(sendError(two, one), WAIT).toBe("not_found");
    // Both daemons confirm, signed, that they cut each other off, and the page shows it live.
    const receipt = (removed: Daemon) => page.locator("[data-revocations] li").filter({ hasText: `node ${removed.nodeId} removed` }).first();
    await expect.poll(() => receipt(two).locator("[data-line]").textContent(), WAIT).toMatch(/^node \d+ removed · 2 of 2 members confirmed cut-off · slowest \d+ ms$/);
    expect(await receipt(two).locator("[data-pending]").textContent()).toBe("");

    // Rotate the token: the old one stops working, the new one lets the removed agent back in, live.
    const oldToken = await page.inputValue("#join-token");
    await page.click('button[data-action="rotate-token"]');
    await expect.poll(() => page.inputValue("#join-token")).not.toBe(oldToken);
    expect((await two.ctl("join-network", String(networkId), "--token", oldToken)).error).toMatchObject({ code: "join_denied" });
    expect(await two.run("join-network", String(networkId), "--token", await page.inputValue("#join-token"))).toMatchObject({ network_id: networkId });
    await expect.poll(status(two), WAIT).toBe("online");
    expect(await page.textContent("[data-count]")).toBe("2 of 5 agents");
    await delivered(two, one, boxes.one, "two is back");
    // Added again by the Pilot address its row shows, it is simply a member already.
    expect(await add((await cell(two, "address")())!)).toBe(`Node ${two.nodeId} is already a member.`);

    // A stopped daemon shows offline, and online again once it is started, all without a reload.
    await one.stop();
    await expect.poll(status(one), WAIT).toBe("offline");
    // Removed while it is stopped: it has not confirmed, and the page says who has not.
    await row(two).locator('button[data-action="remove-node"]').click();
    await expect.poll(() => page.locator("[data-revocations] li").count(), WAIT).toBe(2);
    const latest = page.locator("[data-revocations] li").first();
    await expect.poll(() => latest.locator("[data-line]").textContent(), WAIT).toMatch(/1 of 2 members confirmed cut-off/);
    expect(await latest.locator("[data-pending]").textContent()).toBe(`Not confirmed yet: node ${one.nodeId}`);
    await shot("receipts-pending");
    await one.start();
    await expect.poll(status(one), WAIT).toBe("online");
    // Started again, it confirms before it lets the network's members in.
    await expect.poll(() => latest.locator("[data-line]").textContent(), WAIT).toMatch(/2 of 2 members confirmed cut-off/);
    expect(await latest.locator("[data-pending]").textContent()).toBe("");
    expect(await two.run("join-network", String(networkId), "--token", await page.inputValue("#join-token"))).toMatchObject({ network_id: networkId });
    await expect.poll(status(two), WAIT).toBe("online");
    // It listens on a new port now, and its row follows.
    await expect.poll(cell(one, "endpoint"), WAIT).toBe((await one.run("info"))["endpoint"]);
    boxes.one.close();
    boxes.one = await inbox(one);
    await delivered(two, one, boxes.one, "after the restart");

    // A foreign agent is only invited: its daemon hears of it, and of the withdrawal.
    const guestAddress = formatAddress({ network: 0, node: guest.nodeId });
    const invitations = async () => ((await guest.run("invitations"))["invitations"] as { network_id: number }[]).map((i) => i.network_id);
    expect(await add(guestAddress)).toContain(`Invitation sent: if node ${guestAddress} exists, its daemon is told now`);
    await expect.poll(invitations, WAIT).toEqual([networkId]);
    await shot("invitation");
    await page.click('[data-result] button:text("Withdraw invitation")');
    await expect.poll(result).toBe(`Invitation to ${guestAddress} withdrawn.`);
    await expect.poll(invitations, WAIT).toEqual([]);
    expect((await guest.ctl("accept-invitation", String(networkId))).error).toMatchObject({ code: "invitation_not_found" });
    // Invited again, it is no member until it accepts; then its row appears online, live.
    expect(await add(String(guest.nodeId))).toContain(`Invitation sent: if node ${guest.nodeId} exists, its daemon is told now`);
    await expect.poll(invitations, WAIT).toEqual([networkId]);
    expect(await row(guest).count()).toBe(0);
    expect(await guest.run("accept-invitation", String(networkId))).toMatchObject({ network_id: networkId });
    await expect.poll(status(guest), WAIT).toBe("online");
    expect(await page.textContent("[data-count]")).toBe("3 of 5 agents");
    await delivered(guest, one, boxes.one, "the guest says hello");

    // The audit log tells the story.
    await page.reload();
    const audit = await page.textContent("table.audit");
    for (const action of ["network created", "member added", "member removed", "token rotated", "member joined", "node invited", "invitation withdrawn", "invitation accepted"]) {
      expect(audit).toContain(action);
    }
    await shot("network");
    // Readable on a phone: nothing wider than the screen but the tables, which scroll on their own.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot("network-phone");
    await page.setViewportSize({ width: 1200, height: 900 });

    // Delete, through its confirmation: a wrong name is refused.
    await page.click('button[data-action="ask-delete"]');
    await page.fill("#confirm-name", "research-lap");
    await page.click('form[data-action="delete-network"] button[type="submit"]');
    expect(await page.textContent('form[data-action="delete-network"] [data-error]')).toMatch(/exact name/);
    await shot("delete-confirmation");
    await page.fill("#confirm-name", "research-lab");
    await page.click('form[data-action="delete-network"] button[type="submit"]');
    await page.waitForURL(`${registry.url}/console`);
    expect(await page.textContent(".empty")).toContain("No networks yet");
    // The agents are cut off from each other with it.
    await expect.poll(sendError(one, guest), WAIT).toBe("not_found");
    await expect.poll(sendError(two, one), WAIT).toBe("not_found");
    boxes.one.close();
    boxes.two.close();

    // Sign out ends the session.
    await page.click('button[data-action="sign-out"]');
    await page.waitForURL(`${registry.url}/console/sign-in`);
    await page.goto(`${registry.url}/console`);
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it("makes join links that end: the owner sees uses left, a real agent's join spends one, a revoked link refuses the next", async () => {
    await page.goto(`${registry.url}/console/sign-up`);
    await page.fill("#email", "links-owner@example.com");
    await page.fill("#password", "correct horse battery");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${registry.url}/console`);
    await page.fill("#name", "linked-lab");
    await page.check('input[value="token"]');
    await page.click('form[data-action="create-network"] button[type="submit"]');
    await page.waitForURL(/\/console\/networks\/\d+$/);
    const networkId = Number(page.url().split("/").pop());
    const links = page.locator("[data-links] tbody tr");
    // The network's token is its first link, the default one.
    expect(await links.count()).toBe(1);
    expect(await links.first().locator("input").inputValue()).toBe(await page.inputValue("#join-url"));

    // A short custom token is refused in words, and no link is made.
    const linkError = 'form[data-action="create-link"] [data-error]';
    await page.fill("#link-label", "two seats");
    await page.fill("#link-token", "short-tok");
    await page.click('form[data-action="create-link"] button[type="submit"]');
    await expect.poll(() => page.textContent(linkError)).toMatch(/at least 11 characters/);
    expect(await links.count()).toBe(1);
    // A link for two agents, for a day.
    await page.fill("#link-token", "");
    await page.fill("#link-uses", "2");
    await page.fill("#link-hours", "24");
    await page.click('form[data-action="create-link"] button[type="submit"]');
    await expect.poll(() => links.count()).toBe(2);
    const link = page.locator("[data-links] tr", { hasText: "two seats" });
    const col = (name: string) => link.locator(`[data-col="${name}"]`).textContent();
    expect([await col("uses"), await col("left"), await col("state")]).toEqual(["0 of 2", "2", "live"]);
    expect(await col("expires")).toMatch(/UTC$/);
    const url = await link.locator("input").inputValue();
    expect(url).toMatch(new RegExp(`/join/${networkId}#token=`));
    await shot("join-links");

    // A real agent joins with the link's URL; the link has one use left.
    const first = await cluster.daemon("links-first");
    expect(await first.run("join-network", url)).toMatchObject({ network_id: networkId });
    await page.reload();
    expect([await col("uses"), await col("left")]).toEqual(["1 of 2", "1"]);
    await expect.poll(status(first), WAIT).toBe("online");

    // Revoked, it refuses the next agent exactly as a wrong token would; the default link still joins.
    await link.locator('button[data-action="revoke-link"]').click();
    await expect.poll(() => col("state")).toBe("revoked");
    expect(await link.locator('button[data-action="revoke-link"]').count()).toBe(0);
    const second = await cluster.daemon("links-second");
    expect((await second.ctl("join-network", url)).error).toMatchObject({ code: "join_denied" });
    expect((await second.ctl("join-network", String(networkId), "--token", "no-such-token-at-all")).error).toMatchObject({ code: "join_denied" });
    expect(await second.run("join-network", String(networkId), "--token", await page.inputValue("#join-token"))).toMatchObject({ network_id: networkId });
    await expect.poll(status(second), WAIT).toBe("online");
    await shot("join-links-revoked");

    await page.click('button[data-action="sign-out"]');
    await page.waitForURL(`${registry.url}/console/sign-in`);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it("marks a member the operator suspended on its owner's live page, and unmarks it on restore", async () => {
    await page.goto(`${registry.url}/console/sign-up`);
    await page.fill("#email", "suspension-owner@example.com");
    await page.fill("#password", "correct horse battery");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${registry.url}/console`);
    await page.fill("#name", "moderated");
    await page.check('input[value="token"]');
    await page.click('form[data-action="create-network"] button[type="submit"]');
    await page.waitForURL(/\/console\/networks\/\d+$/);
    const networkId = String(page.url().split("/").pop());
    const token = await page.inputValue("#join-token");
    const [kept, suspended] = [await cluster.daemon("moderated-kept"), await cluster.daemon("moderated-suspended")];
    for (const d of [kept, suspended]) expect(await d.run("join-network", networkId, "--token", token)).toMatchObject({ network_id: Number(networkId) });
    for (const d of [kept, suspended]) await expect.poll(status(d), WAIT).toBe("online");

    const admin = (action: string) =>
      fetch(`${registry.url}/v1/admin/nodes/${suspended.nodeId}/${action}`, { method: "POST", headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect((await admin("suspend")).status).toBe(200);
    // Marked, not dropped: it is still a member, and its channel closing after does not unmark it.
    await expect.poll(status(suspended), WAIT).toBe("suspended by the registry's operator");
    expect(await status(kept)()).toBe("online");
    expect(await page.textContent("[data-count]")).toMatch(/^2 of/);
    await page.reload();
    await expect.poll(status(suspended), WAIT).toBe("suspended by the registry's operator");
    await shot("suspended-member");

    expect((await admin("restore")).status).toBe(200);
    await expect.poll(status(suspended), WAIT).not.toBe("suspended by the registry's operator");
    await page.click('button[data-action="sign-out"]');
    await page.waitForURL(`${registry.url}/console/sign-in`);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it("shows a network's live view to its owner only, and ends it on sign-out", async () => {
    const owner = await signUp("live-owner@example.com");
    const other = await signUp("live-other@example.com");
    const net = (await (
      await fetch(`${registry.url}/v1/networks`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie: owner.cookie, "x-csrf-token": owner.csrf },
        body: JSON.stringify({ name: "watched", join_rule: "invite" }),
      })
    ).json()) as { network_id: number };
    const live = `${registry.url}/console/networks/${net.network_id}/live`;
    /** The status a WebSocket upgrade request gets (101 if it is let through). */
    const upgrade = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(live, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers } });
        req.on("response", (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.on("upgrade", (_res, socket) => (socket.destroy(), resolve(101)));
        req.on("error", reject);
        req.end();
      });
    expect(await upgrade({})).toBe(403);
    expect(await upgrade({ cookie: owner.cookie, origin: "https://evil.example" })).toBe(403);
    expect(await upgrade({ cookie: other.cookie })).toBe(404);
    expect(await upgrade({ cookie: owner.cookie, origin: registry.url })).toBe(101);
    expect((await fetch(`${registry.url}/console/networks/${net.network_id}`, { headers: { cookie: other.cookie }, redirect: "manual" })).status).toBe(404);

    const ws = new WebSocket(live.replace(/^http/, "ws"), { headers: { cookie: owner.cookie, origin: registry.url } } as unknown as string[]);
    const messages: string[] = [];
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
    await new Promise<void>((resolve) => ws.addEventListener("message", (e) => (messages.push(String(e.data)), resolve())));
    expect(JSON.parse(messages[0]!)).toEqual({ type: "watching", network_id: net.network_id });
    await fetch(`${registry.url}/v1/session`, { method: "DELETE", headers: { cookie: owner.cookie, "x-csrf-token": owner.csrf } });
    expect(await closed).toBe(4003);
  });

  it("keeps the network page's audit log live, to the second, and a deleted network's trail readable from the account page", async () => {
    const owner = await signUp("audit-owner@example.com");
    const asOwner = (method: string, path: string, body?: object) =>
      fetch(`${registry.url}${path}`, {
        method,
        headers: { "content-type": "application/json", cookie: owner.cookie, "x-csrf-token": owner.csrf },
        body: body && JSON.stringify(body),
      });
    const net = (await (await asOwner("POST", "/v1/networks", { name: "audited", join_rule: "invite" })).json()) as { network_id: number };
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.addCookies([{ name: "pilot_session", value: owner.cookie.slice("pilot_session=".length), url: registry.url }]);
    const tab = await context.newPage();
    const errors: string[] = [];
    tab.on("pageerror", (err) => errors.push(err.message));
    await tab.goto(`${registry.url}/console/networks/${net.network_id}`);
    await tab.locator("text=Live: changes appear as they happen.").waitFor(WAIT);
    const rows = tab.locator("table[data-audit] tbody tr");
    await expect.poll(() => rows.count(), WAIT).toBe(1);
    const time = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/;
    expect(await rows.nth(0).locator("td").first().textContent()).toMatch(time);

    // Changes made through the API, not the page: they appear on top without a reload.
    expect((await asOwner("POST", `/v1/networks/${net.network_id}/members`, { node: "not-yet-here" })).status).toBe(200);
    await expect.poll(async () => (await rows.nth(0).textContent()) ?? "", WAIT).toContain("node invited");
    expect(await rows.nth(0).textContent()).toContain("not-yet-here");
    expect((await asOwner("DELETE", `/v1/networks/${net.network_id}/invitations/not-yet-here`)).status).toBe(204);
    await expect.poll(async () => (await rows.nth(0).textContent()) ?? "", WAIT).toContain("invitation withdrawn");
    expect(await rows.allTextContents()).toHaveLength(3);
    expect(await rows.nth(0).locator("td").first().textContent()).toMatch(time);
    await tab.screenshot({ path: `${SHOTS}/audit-live.png`, fullPage: true });

    // Deleted, the network's page sends its owner back to the list; its trail stays on the account page.
    expect((await asOwner("DELETE", `/v1/networks/${net.network_id}`)).status).toBe(204);
    await tab.waitForURL(`${registry.url}/console`, WAIT);
    await tab.click('nav >> text="Account"');
    await tab.waitForURL(`${registry.url}/console/account`, WAIT);
    const activity = tab.locator("table[data-account-audit] tbody tr");
    expect(await activity.nth(0).textContent()).toContain("network deleted");
    expect(await activity.allTextContents()).toEqual([
      expect.stringContaining("network deleted"),
      expect.stringContaining("network created"),
      expect.stringContaining("account created"),
    ]);
    await tab.screenshot({ path: `${SHOTS}/account.png`, fullPage: true });
    await activity.nth(0).locator("a").click();
    await tab.waitForURL(`${registry.url}/console/networks/${net.network_id}/audit`, WAIT);
    expect((await tab.locator("table[data-audit] tbody tr").allTextContents()).map((r) => r.replace(/^.*UTC/, ""))).toEqual([
      expect.stringContaining("network deleted"),
      expect.stringContaining("invitation withdrawn"),
      expect.stringContaining("node invited"),
      expect.stringContaining("network created"),
    ]);
    await tab.screenshot({ path: `${SHOTS}/deleted-network-audit.png`, fullPage: true });
    // Another account's console has no such trail: the same 404 as a network that never existed.
    const other = await signUp("audit-other@example.com");
    const theirs = await fetch(`${registry.url}/console/networks/${net.network_id}/audit`, { headers: { cookie: other.cookie } });
    const never = await fetch(`${registry.url}/console/networks/65000/audit`, { headers: { cookie: other.cookie } });
    expect([theirs.status, await theirs.text()]).toEqual([404, (await never.text()).replace("65000", String(net.network_id))]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("sends its security headers", async () => {
    const res = await fetch(`${registry.url}/console/sign-in`);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // The script built from worker/console/client/, served as a static asset.
    const script = await fetch(`${registry.url}/console/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
  });
});
