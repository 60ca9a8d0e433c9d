/**
 * What a `403 plan_limit` tells an account about getting more: the operator's words and page
 * (PLAN_UPGRADE_TEXT, PLAN_UPGRADE_URL in wrangler.toml's [vars]), or, without them, to ask the
 * registry's operator, who changes plans through the admin API (docs/admin.md).
 */
const DEFAULT_TEXT = "to get more, contact the operator of this registry";

/** The two vars, as strings: wrangler types them as the literals wrangler.toml holds. */
export type UpgradeVars = { PLAN_UPGRADE_TEXT: string; PLAN_UPGRADE_URL: string };

export function howToGetMore(env: UpgradeVars): string {
  const text = env.PLAN_UPGRADE_TEXT.trim() || DEFAULT_TEXT;
  const url = env.PLAN_UPGRADE_URL.trim();
  return url ? `${text}: ${url}` : text;
}
