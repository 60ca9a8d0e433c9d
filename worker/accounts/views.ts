/** How API tokens and enrollment keys are shown: never their values. */
import type { apiTokens, enrollmentKeys } from "../db/schema.ts";
import { iso, isoOrNull } from "../time.ts";

export const tokenView = (t: typeof apiTokens.$inferSelect) => ({
  id: t.id,
  name: t.name,
  created_at: iso(t.createdAt),
  revoked_at: isoOrNull(t.revokedAt),
});

export const keyView = (k: typeof enrollmentKeys.$inferSelect) => ({
  id: k.id,
  description: k.description,
  reusable: k.reusable,
  max_uses: k.maxUses,
  uses: k.uses,
  expires_at: isoOrNull(k.expiresAt),
  revoked_at: isoOrNull(k.revokedAt),
  created_at: iso(k.createdAt),
});
