/** @jsxImportSource hono/jsx */
/**
 * The Pilot Console: server-rendered pages for people who own networks. Reading happens here;
 * every change goes through the JSON API from /console/app.js, with the session's CSRF token.
 */
import { Hono, type Context } from "hono";
import { PageQuery } from "@pilot/protocol";
import { accountAuditPage } from "../accounts/audit.ts";
import { apiTokensOf } from "../accounts/api-tokens.ts";
import { enrollmentKeysOf } from "../accounts/enrollment-keys.ts";
import { planUsage } from "../accounts/plan.ts";
import { currentSession, type ActiveSession } from "../accounts/session.ts";
import { accountSuspended } from "../accounts/suspension.ts";
import { howToGetMore } from "../accounts/upgrade.ts";
import { keyView, tokenView } from "../accounts/views.ts";
import type { AppEnv } from "../app-env.ts";
import { CONSOLE_CSP } from "../console/layout.tsx";
import { AccountPage, AuthPage, KeysPage, NetworkPage, NetworksPage, SuspendedPage, TrailPage } from "../console/pages.tsx";
import { auditRetentionMs } from "../audit-retention.ts";
import { database } from "../db/client.ts";
import { networkHub } from "../networks/hub.ts";
import { linkList } from "../networks/join-links.ts";
import { memberPage } from "../networks/member-list.ts";
import { trailPage } from "../networks/audit.ts";
import { networksOwnedBy, ownedNetwork } from "../networks/queries.ts";
import { joinLinkView, networkView } from "../networks/views.ts";
import { networkRevocations } from "../revocations/summaries.ts";
import { registryOrigin } from "../origin.ts";

const FIRST_MEMBERS = 500;
const LATEST_AUDIT = 50;

export const consoleRoutes = new Hono<AppEnv>();

consoleRoutes.use("/console/*", async (c, next) => {
  await next();
  c.header("Content-Security-Policy", CONSOLE_CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
});

/** The signed-in person; or a redirect to the sign-in page; or, for a suspended account, the operator's message. */
async function signedIn(c: Context<AppEnv>): Promise<ActiveSession | Response> {
  const session = await currentSession(c);
  if (!session) return c.redirect("/console/sign-in", 303);
  if (session.account.suspendedAt !== null) {
    const message = accountSuspended(session.account.suspendedReason).message;
    return c.html(<SuspendedPage csrf={session.csrfToken} email={session.account.email} message={message} />, 403);
  }
  return session;
}

consoleRoutes.get("/", (c) => c.redirect("/console", 302));
consoleRoutes.get("/console/sign-in", (c) => c.html(<AuthPage mode="sign-in" />));
consoleRoutes.get("/console/sign-up", (c) => c.html(<AuthPage mode="sign-up" />));

consoleRoutes.get("/console", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const db = database(c.env);
  const plan = await planUsage(db, s.account);
  const rows = await networksOwnedBy(db, s.account.id);
  const origin = registryOrigin(c);
  return c.html(
    <NetworksPage
      csrf={s.csrfToken}
      email={s.account.email}
      plan={plan}
      howToGetMore={howToGetMore(c.env)}
      networks={rows.map((r) => networkView(r, plan.max_members, origin))}
    />,
  );
});

consoleRoutes.get("/console/networks/:id{[1-9][0-9]{0,4}}", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const id = Number(c.req.param("id"));
  const db = database(c.env);
  const net = await ownedNetwork(db, id, s.account.id);
  if (!net) return c.notFound();
  const origin = registryOrigin(c);
  const now = Date.now();
  const [members, audit, links, revocations] = await Promise.all([
    memberPage(c.env, db, id, { limit: FIRST_MEMBERS }, true),
    trailPage(db, id, s.account.id, { limit: LATEST_AUDIT }),
    net.row.joinRule === "token" ? linkList(db, id, now) : null,
    networkRevocations(db, id),
  ]);
  return c.html(
    <NetworkPage
      csrf={s.csrfToken}
      email={s.account.email}
      network={networkView(net, net.maxMembers, origin)}
      links={links && links.map((l) => joinLinkView(l, origin, now))}
      members={members.members}
      audit={audit?.entries ?? []}
      revocations={revocations}
    />,
  );
});

consoleRoutes.get("/console/keys", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const db = database(c.env);
  const [keys, tokens] = await db.batch([enrollmentKeysOf(db, s.account.id), apiTokensOf(db, s.account.id)]);
  return c.html(
    <KeysPage
      csrf={s.csrfToken}
      email={s.account.email}
      keys={keys.map(keyView)}
      tokens={tokens.map(tokenView)}
    />,
  );
});

/** The page of a trail the query asks for, or undefined for a query the API would refuse. */
function pageAsked(c: Context<AppEnv>, limit: number) {
  const query = PageQuery.safeParse(c.req.query());
  return query.success ? { cursor: query.data.cursor, limit: query.data.limit ?? limit } : undefined;
}

consoleRoutes.get("/console/account", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const page = pageAsked(c, LATEST_AUDIT);
  if (!page) return c.text("bad page", 400);
  const db = database(c.env);
  const [plan, audit] = await Promise.all([planUsage(db, s.account), accountAuditPage(db, s.account.id, page)]);
  return c.html(
    <AccountPage
      csrf={s.csrfToken}
      email={s.account.email}
      plan={plan}
      entries={audit.entries}
      next={audit.next_cursor}
      retentionDays={auditRetentionMs(c.env) / 86_400_000}
    />,
  );
});

/** A network's whole trail, also once the network is deleted. */
consoleRoutes.get("/console/networks/:id{[1-9][0-9]{0,4}}/audit", async (c) => {
  const s = await signedIn(c);
  if (s instanceof Response) return s;
  const page = pageAsked(c, LATEST_AUDIT);
  if (!page) return c.text("bad page", 400);
  const id = Number(c.req.param("id"));
  const audit = await trailPage(database(c.env), id, s.account.id, page);
  if (!audit) return c.notFound();
  return c.html(<TrailPage csrf={s.csrfToken} email={s.account.email} networkId={id} entries={audit.entries} next={audit.next_cursor} />);
});

/** Live updates for the owner's network page: the network's events, read-only. */
consoleRoutes.get("/console/networks/:id{[1-9][0-9]{0,4}}/live", async (c) => {
  const session = await currentSession(c);
  const origin = c.req.header("origin");
  if (!session || session.account.suspendedAt !== null || (origin !== undefined && origin !== new URL(c.req.url).origin) || c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    return c.text("forbidden", 403);
  }
  const id = Number(c.req.param("id"));
  if (!(await ownedNetwork(database(c.env), id, session.account.id))) return c.text("not found", 404);
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
