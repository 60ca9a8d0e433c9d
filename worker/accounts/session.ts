/**
 * Console sessions: a random secret in a signed, HttpOnly, SameSite=Strict cookie (Secure except on
 * localhost), stored server-side only as its SHA-256 so it can be revoked. Each session carries a
 * CSRF token that state-changing requests made with the cookie must echo in X-CSRF-Token.
 */
import { and, eq, gt } from "drizzle-orm";
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import type { AppEnv } from "../app-env.ts";
import { derivedKey } from "../auth/server-secret.ts";
import { newSecret, sha256Hex } from "../auth/secrets.ts";
import { database } from "../db/client.ts";
import { accounts, sessions, type AccountRow } from "../db/schema.ts";
import { networkHub } from "../networks/hub.ts";
import { networksOwnedBy } from "../networks/queries.ts";
import { recordAccountEvent } from "./audit.ts";

export const SESSION_COOKIE = "pilot_session";
export const SESSION_TTL_SECONDS = 7 * 86_400;

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export interface ActiveSession {
  idHash: string;
  csrfToken: string;
  expiresAt: number;
  account: AccountRow;
}

/** Where the request came from, as Cloudflare's edge says (it overwrites what a client sends). */
export const clientIp = <E extends AppEnv>(c: Context<E>): string | null => c.req.header("cf-connecting-ip") ?? null;

/** Starts a session for a sign-up or a sign-in, recorded in the account's trail in the same batch. */
export async function startSession<E extends AppEnv>(c: Context<E>, account: AccountRow, how: "account_created" | "signed_in"): Promise<ActiveSession> {
  const secret = newSecret("ses");
  const session = {
    idHash: await sha256Hex(secret),
    accountId: account.id,
    csrfToken: newSecret("csrf"),
    expiresAt: Date.now() + SESSION_TTL_SECONDS * 1000,
  };
  const db = database(c.env);
  await db.batch([db.insert(sessions).values(session), recordAccountEvent(db, account.id, how, { ip: clientIp(c) })]);
  await setSignedCookie(c, SESSION_COOKIE, secret, await derivedKey(c.env, "session-cookie"), {
    httpOnly: true,
    sameSite: "Strict",
    secure: !LOCAL_HOSTS.has(new URL(c.req.url).hostname),
    path: "/",
    maxAge: SESSION_TTL_SECONDS,
  });
  return { ...session, account };
}

/** The session the request's cookie names, if it is genuine, known and unexpired. */
export async function currentSession<E extends AppEnv>(c: Context<E>): Promise<ActiveSession | undefined> {
  const secret = await getSignedCookie(c, await derivedKey(c.env, "session-cookie"), SESSION_COOKIE);
  if (!secret) return undefined;
  const row = await database(c.env)
    .select({ session: sessions, account: accounts })
    .from(sessions)
    .innerJoin(accounts, eq(accounts.id, sessions.accountId))
    .where(and(eq(sessions.idHash, await sha256Hex(secret)), gt(sessions.expiresAt, Date.now())))
    .get();
  return row && { idHash: row.session.idHash, csrfToken: row.session.csrfToken, expiresAt: row.session.expiresAt, account: row.account };
}

export async function endSession<E extends AppEnv>(c: Context<E>, session: ActiveSession): Promise<void> {
  const db = database(c.env);
  await db.batch([db.delete(sessions).where(eq(sessions.idHash, session.idHash)), recordAccountEvent(db, session.account.id, "signed_out")]);
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
  // Live console views opened under this session close too.
  const owned = await networksOwnedBy(db, session.account.id);
  await Promise.all(owned.map((n) => networkHub(c.env, n.row.id).endWatch(session.idHash)));
}
