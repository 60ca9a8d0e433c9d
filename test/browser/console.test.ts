/**
 * The Pilot Console in real headless Chromium (the one the global setup found, driven by
 * playwright-core) against a real local registry, with agents registering through the daemon's
 * registry client. Screenshots of each page go to artifacts/console/.
 */
import { mkdirSync } from "node:fs";
import { request } from "node:http";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Identity } from "../../daemon/src/identity.ts";
import { RegistryClient } from "../../daemon/src/registry-client.ts";
import { formatAddress } from "../../daemon/src/protocol/index.ts";
import { startLocalRegistry, type LocalRegistry } from "../../daemon/test/local-registry.ts";

const SHOTS = "artifacts/console";
let registry: LocalRegistry;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  registry = await startLocalRegistry();
  browser = await chromium.launch({
    executablePath: inject("chromiumPath"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await registry?.close();
});

const shot = (name: string) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

async function agent(enrollmentKey?: string, hostname?: string) {
  const client = new RegistryClient({ url: registry.url, identity: Identity.generate() });
  const { node } = await client.register(enrollmentKey);
  if (hostname) await client.update({ hostname });
  return { client, id: node.node_id };
}

const row = (nodeId: number) => page.locator(`tr[data-node-id="${nodeId}"]`);

describe("the console", () => {
  it("takes a person from sign-up to a live network and back out, refusing bad input on the way", async () => {
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

    // Create Network: the naming rule is checked as it is typed.
    await page.fill("#name", "Bad Name");
    expect(await page.getAttribute("#name", "aria-invalid")).toBe("true");
    expect(await page.textContent('form[data-action="create-network"] [data-error]')).toMatch(/lowercase letters, digits and hyphens/);
    await page.click('form[data-action="create-network"] button[type="submit"]');
    await page.waitForTimeout(300);
    expect(new URL(page.url()).pathname).toBe("/console");
    expect(await page.textContent("[data-plan]")).toContain("0 of 1 network");
    await page.fill("#name", "research-lab");
    await page.check('input[value="token"]');
    await page.click('form[data-action="create-network"] button[type="submit"]');
    await page.waitForURL(/\/console\/networks\/\d+$/);
    const networkId = Number(page.url().split("/").pop());
    expect(await page.inputValue("#join-command")).toMatch(new RegExp(`^pilotctl join-network ${networkId} --token `));
    expect(await page.inputValue("#join-url")).toMatch(new RegExp(`/join/${networkId}#token=`));
    expect(await page.textContent("[data-empty]")).toContain("No agents yet");
    await expect.poll(() => page.textContent("[data-live]")).toContain("Live");
    await shot("network-empty");

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

    const [one, two, three] = [await agent(key), await agent(key, "agent-two"), await agent(key)];
    const stranger = await agent();

    // Add node, in all three formats; a stranger is only invited.
    await page.goto(`${registry.url}/console/networks/${networkId}`);
    await expect.poll(() => page.textContent("[data-live]")).toContain("Live");
    const add = async (name: string) => {
      await page.fill("#node", name);
      await page.click('form[data-action="add-node"] button[type="submit"]');
      await expect.poll(() => page.textContent("[data-result]")).not.toBe("");
      return page.textContent("[data-result]");
    };
    await page.click('form[data-action="add-node"] button[type="submit"]');
    await expect.poll(() => page.textContent('form[data-action="add-node"] ~ [data-error]')).toMatch(/Enter a node ID/);
    expect(await add(String(one.id))).toBe(`Added node ${one.id} (${formatAddress({ network: networkId, node: one.id })}).`);
    expect(await add("agent-two")).toContain(`Added node ${two.id}`);
    expect(await add(formatAddress({ network: 0, node: three.id }))).toContain(`Added node ${three.id}`);
    expect(await add(String(stranger.id))).toMatch(/^Invitation sent/);
    await page.fill("#node", "1:00A3.F291.0004");
    await page.click('form[data-action="add-node"] button[type="submit"]');
    await expect.poll(() => page.textContent('form[data-action="add-node"] ~ [data-error]')).toMatch(/name the node by its node ID/);
    expect(await page.textContent("[data-result]")).toBe("");
    // The rows arrived live, in node order, without a reload.
    await expect.poll(() => page.locator("[data-members] tbody tr").count()).toBe(3);
    expect(await row(two.id).locator('[data-col="hostname"]').textContent()).toBe("agent-two");
    expect(await page.textContent("[data-count]")).toBe("3 of 5 agents");

    // An agent comes online, goes offline and comes back, all without a reload.
    const status = () => row(one.id).locator('[data-col="online"]').textContent();
    expect(await status()).toBe("offline");
    let channel = one.client.channel(networkId, { onEvent: () => undefined });
    await expect.poll(status).toBe("online");
    await one.client.heartbeat({ endpoint: "203.0.113.10:40000" });
    await expect.poll(() => row(one.id).locator('[data-col="endpoint"]').textContent()).toBe("203.0.113.10:40000");
    await shot("network-live");
    channel.close();
    await expect.poll(status).toBe("offline");
    channel = one.client.channel(networkId, { onEvent: () => undefined });
    await expect.poll(status).toBe("online");

    // Remove takes effect at once: the row goes, and the agent can no longer see its co-members.
    expect((await one.client.resolve(two.id)).node_id).toBe(two.id);
    await row(two.id).locator('button[data-action="remove-node"]').click();
    await expect.poll(() => row(two.id).count()).toBe(0);
    expect(await page.textContent("[data-count]")).toBe("2 of 5 agents");
    await expect(one.client.resolve(two.id)).rejects.toMatchObject({ code: "not_found" });

    // Rotate the token: the old one stops working.
    const oldToken = await page.inputValue("#join-token");
    await page.click('button[data-action="rotate-token"]');
    await expect.poll(() => page.inputValue("#join-token")).not.toBe(oldToken);
    await expect(stranger.client.joinNetwork(networkId, oldToken)).rejects.toMatchObject({ code: "join_denied" });
    expect((await stranger.client.joinNetwork(networkId, await page.inputValue("#join-token"))).network_id).toBe(networkId);
    await expect.poll(() => page.locator("[data-members] tbody tr").count()).toBe(3);

    // The audit log tells the story.
    await page.reload();
    const audit = await page.textContent("table.audit");
    for (const action of ["network created", "member added", "node invited", "member removed", "token rotated", "member joined"]) expect(audit).toContain(action);
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
    await expect(one.client.resolve(three.id)).rejects.toMatchObject({ code: "not_found" });
    channel.close();

    // Sign out ends the session.
    await page.click('button[data-action="sign-out"]');
    await page.waitForURL(`${registry.url}/console/sign-in`);
    await page.goto(`${registry.url}/console`);
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
  });

  it("shows a network's live view to its owner only, and ends it on sign-out", async () => {
    const signUp = async (email: string) => {
      const res = await fetch(`${registry.url}/v1/accounts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password: "correct horse battery" }),
      });
      const { csrf_token } = (await res.json()) as { csrf_token: string };
      return { cookie: /pilot_session=[^;]+/.exec(res.headers.get("set-cookie")!)![0], csrf: csrf_token };
    };
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

  it("sends its security headers", async () => {
    const res = await fetch(`${registry.url}/console/sign-in`);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const script = await fetch(`${registry.url}/console/app.js`);
    expect(script.status).toBe(200);
  });
});
