/**
 * Time-boxed trust: a pair may carry an end (`trust_pairs.expires_at`). Every gate reads the pair
 * through `liveTrust`, which compares that end with the time of its own query, so an ended pair
 * grants nothing from the instant it ends, whether or not it has been swept yet. Sweeping
 * (pairs.ts) is what tells the two nodes and stops relayed frames between them.
 */
import { BEYOND_SCHEMA_STATUS } from "@pilot/protocol";
import { gt, isNull, or, type SQL } from "drizzle-orm";
import { trustPairs } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

/** The pair counts at `now`: it has no end, or its end is still ahead. */
export const liveTrust = (now: number): SQL => or(isNull(trustPairs.expiresAt), gt(trustPairs.expiresAt, now))!;

/** The shorter of two TTLs, where a missing one asks for no end: null only when neither gives one. */
export function shorter(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null) return b ?? null;
  return b == null ? a : Math.min(a, b);
}

/** When trust made at `now` for `ttlSeconds` ends, or null for trust without end. */
export const endOf = (now: number, ttlSeconds: number | null): number | null => (ttlSeconds === null ? null : now + ttlSeconds * 1000);

/** The bounds an operator may give TRUST_TTL_MIN_SECONDS: down to a second (tests), up to a day. */
const FLOOR_RANGE = [1, 86_400] as const;

/** The shortest TTL this registry grants (TRUST_TTL_MIN_SECONDS): shorter trust would churn tunnels for little. */
export function ttlFloor(env: Env): number {
  const text = String(env.TRUST_TTL_MIN_SECONDS);
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < FLOOR_RANGE[0] || value > FLOOR_RANGE[1]) {
    throw new ApiError(503, "server_misconfigured", `TRUST_TTL_MIN_SECONDS must be a whole number of seconds from ${FLOOR_RANGE[0]} to ${FLOOR_RANGE[1]}; its operator must fix it in wrangler.toml`);
  }
  return value;
}

/** Refuses a TTL under the registry's floor (the schema has checked the rest), before anything is read or written. */
export function checkTtl(env: Env, ttlSeconds: number | undefined): void {
  if (ttlSeconds === undefined) return;
  const floor = ttlFloor(env);
  if (ttlSeconds < floor) throw new ApiError(BEYOND_SCHEMA_STATUS, "ttl_too_short", `ttl_seconds must be at least ${floor} seconds on this registry, not ${ttlSeconds}`);
}
