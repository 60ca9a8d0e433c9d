/** @jsxImportSource hono/jsx */
/**
 * The Pilot Console: server-rendered pages for people who own networks. Reading happens here;
 * every change goes through the JSON API from /console/app.js, with the session's CSRF token.
 */
import { and, asc, desc, eq } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { networkHub } from "../../durable-objects/network-hub.ts";
import { planUsage } from "../accounts/plan.ts";
import { currentSession, type ActiveSession } from "../accounts/session.ts";
import type { AppEnv } from "../app-env.ts";
import { CONSOLE_CSP } from "../console/layout.tsx";
import { AuthPage, KeysPage, NetworkPage, NetworksPage } from "../console/pages.tsx";
import { database } from "../db/client.ts";
import { accounts, apiTokens, auditLog, enrollmentKeys, memberships, networks, nodes, plans } from "../db/schema.ts";
import { auditView, memberView, networkView } from "../networks/views.ts";
import { keyView, tokenView } from "../accounts/views.ts";
import { registryOrigin } from "../origin.ts";

const FIRST_MEMBERS = 500;

export const consoleRoutes = new Hono<AppEnv>();

consoleRoutes.use("/console/*", async (c, next) => {
  await next();
  c.header("Content-Security-Policy", CONSOLE_CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
});

/** The signed-in person, or a redirect to the sign-in page. */
async function signedIn(c: Context<AppEnv>): Promise<ActiveSession | Response> {
  return (await currentSession(c)) ?? c.redirect("/console/sign-in", 303);
}

consoleRoutes.get("/", (c) => c.redirect("/console", 302));
consoleRoutes.get("/console/sign-in", (c) => c.html(<AuthPage mode="sign-in" />));
consoleRoutes.get("/console/sign-up", (c) => c.html(<AuthPage mode="sign-up" />));

consoleRoutes.get("/console", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const db = database(c.env);
  const plan = await planUsage(db, s.account);
  const rows = await db.select().from(networks).where(eq(networks.accountId, s.account.id)).orderBy(asc(networks.id));
  const origin = registryOrigin(c);
  return c.html(
    <NetworksPage csrf={s.csrfToken} email={s.account.email} plan={plan} networks={rows.map((r) => networkView(r, plan.max_members, origin))} />,
  );
});

consoleRoutes.get("/console/networks/:id{[1-9][0-9]{0,4}}", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const id = Number(c.req.param("id"));
  const db = database(c.env);
  const net = await db
    .select({ row: networks, maxMembers: plans.maxMembers })
    .from(networks)
    .innerJoin(accounts, eq(accounts.id, networks.accountId))
    .innerJoin(plans, eq(plans.id, accounts.plan))
    .where(and(eq(networks.id, id), eq(networks.accountId, s.account.id)))
    .get();
  if (!net) return c.notFound();
  const [rows, audit] = await db.batch([
    db
      .select({ node: nodes, joinedAt: memberships.joinedAt })
      .from(memberships)
      .innerJoin(nodes, eq(nodes.id, memberships.nodeId))
      .where(eq(memberships.networkId, id))
      .orderBy(asc(memberships.nodeId))
      .limit(FIRST_MEMBERS),
    db.select().from(auditLog).where(eq(auditLog.networkId, id)).orderBy(desc(auditLog.id)).limit(50),
  ]);
  const online = new Set(await networkHub(c.env, id).online(rows.map((r) => r.node.id)));
  return c.html(
    <NetworkPage
      csrf={s.csrfToken}
      email={s.account.email}
      network={networkView(net.row, net.maxMembers, registryOrigin(c))}
      members={rows.map((r) => memberView(id, r.node, r.joinedAt, online.has(r.node.id)))}
      audit={audit.map(auditView)}
    />,
  );
});

consoleRoutes.get("/console/keys", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const db = database(c.env);
  const [keys, tokens] = await db.batch([
    db.select().from(enrollmentKeys).where(eq(enrollmentKeys.accountId, s.account.id)).orderBy(desc(enrollmentKeys.id)),
    db.select().from(apiTokens).where(eq(apiTokens.accountId, s.account.id)).orderBy(desc(apiTokens.id)),
  ]);
  return c.html(
    <KeysPage
      csrf={s.csrfToken}
      email={s.account.email}
      keys={keys.map(keyView)}
      tokens={tokens.map(tokenView)}
    />,
  );
});

/** Live updates for the owner's network page: the network's events, read-only. */
consoleRoutes.get("/console/networks/:id{[1-9][0-9]{0,4}}/live", async (c) => {
  const session = await currentSession(c);
  const origin = c.req.header("origin");
  if (!session || (origin !== undefined && origin !== new URL(c.req.url).origin) || c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    return c.text("forbidden", 403);
  }
  const id = Number(c.req.param("id"));
  const owned = await database(c.env)
    .select({ id: networks.id })
    .from(networks)
    .where(and(eq(networks.id, id), eq(networks.accountId, session.account.id)))
    .get();
  if (!owned) return c.text("not found", 404);
  return networkHub(c.env, id).fetch(
    new Request(c.req.url, {
      headers: {
        upgrade: "websocket",
        "x-pilot-network": String(id),
        "x-pilot-owner-session": session.idHash,
        "x-pilot-owner-expires": String(session.expiresAt),
      },
    }),
  );
});
