/** Schemas of the account routes: sign-up, sessions, API tokens and enrollment keys. */
import { z } from "zod";
import { Timestamp } from "./api.ts";

export const Email = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase())
  .meta({ example: "ops@example.com" });

/** Shared with the console's sign-up form, which says it before the registry has to. */
export const PASSWORD_MIN_LENGTH = 10;

export const Password = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(256)
  .meta({ description: `${PASSWORD_MIN_LENGTH} to 256 characters` });

export const Credentials = z.strictObject({ email: Email, password: Password }).meta({ id: "Credentials" });
export type Credentials = z.infer<typeof Credentials>;

export const PlanLimits = z
  .object({ plan: z.string(), max_networks: z.number().int(), max_members: z.number().int(), networks: z.number().int() })
  .meta({ id: "PlanUsage", description: "The account's plan, its limits, and how many networks it uses" });

export const Account = z
  .object({ account_id: z.number().int(), email: z.string(), created_at: Timestamp, plan: PlanLimits })
  .meta({ id: "Account" });
export type Account = z.infer<typeof Account>;

export const Session = z
  .object({
    account: Account,
    csrf_token: z.string().meta({ description: "Send as X-CSRF-Token on every state-changing request made with the session cookie" }),
    expires_at: Timestamp,
  })
  .meta({ id: "Session" });
export type Session = z.infer<typeof Session>;

const Label = z.string().trim().min(1).max(100);

export const CreateApiTokenRequest = z.strictObject({ name: Label }).meta({ id: "CreateApiTokenRequest" });

export const ApiTokenInfo = z
  .object({ id: z.number().int(), name: z.string(), created_at: Timestamp, revoked_at: Timestamp.nullable() })
  .meta({ id: "ApiToken" });

export const CreatedApiToken = ApiTokenInfo.extend({
  token: z.string().meta({ description: "Shown only in this response; send as Authorization: Bearer <token>" }),
}).meta({ id: "CreatedApiToken" });

export const CreateEnrollmentKeyRequest = z
  .strictObject({
    description: Label,
    reusable: z.boolean().default(false),
    max_uses: z.number().int().min(1).max(1_000_000).optional(),
    expires_in_seconds: z
      .number()
      .int()
      .min(60)
      .max(365 * 86_400)
      .optional(),
  })
  .refine((k) => k.reusable || k.max_uses === undefined || k.max_uses === 1, {
    message: "a single-use key has max_uses 1; set reusable to allow more",
  })
  .meta({ id: "CreateEnrollmentKeyRequest" });
export type CreateEnrollmentKeyRequest = z.input<typeof CreateEnrollmentKeyRequest>;

export const EnrollmentKeyInfo = z
  .object({
    id: z.number().int(),
    description: z.string(),
    reusable: z.boolean(),
    max_uses: z.number().int().nullable(),
    uses: z.number().int(),
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "EnrollmentKey" });

export const CreatedEnrollmentKey = EnrollmentKeyInfo.extend({
  key: z.string().meta({ description: "Shown only in this response; pass to `pilotctl daemon start --enroll`" }),
}).meta({ id: "CreatedEnrollmentKey" });
