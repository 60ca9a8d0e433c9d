/** Schemas of the account routes: sign-up, sessions, API tokens and enrollment keys. */
import { z } from "zod";
import { Timestamp } from "./api.ts";
import { textOfLength } from "./schema-rules.ts";

const email = z.email().max(254);
/** The document states zod's pattern: `format: email` alone admits addresses zod refuses. */
export const Email = email
  .meta({ pattern: email._zod.def.pattern!.source })
  .transform((e) => e.toLowerCase())
  .meta({ example: "ops@example.com" });

/** Shared with the console's sign-up form, which says it before the registry has to. */
export const PASSWORD_MIN_LENGTH = 10;

export const Password = textOfLength(PASSWORD_MIN_LENGTH, 256, `must be at least ${PASSWORD_MIN_LENGTH} characters, and at most 256`).meta({
  description: `${PASSWORD_MIN_LENGTH} to 256 characters`,
});

export const Credentials = z.strictObject({ email: Email, password: Password }).meta({ id: "Credentials" });
/**
 * What signing in takes: any password a sign-up ever took. Passwords were once counted in UTF-16
 * units, so one of ten units may be fewer than ten characters; the wrong password is refused as any
 * other is, with 401.
 */
export const SignInCredentials = z
  .strictObject({ email: Email, password: textOfLength(1, 256, "must be at most 256 characters") })
  .meta({ id: "SignInCredentials" });
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

/**
 * Text a person types: not blank, and at most `max` characters as sent. It is stored trimmed; the
 * checks read it as sent, which is what the published schema can describe.
 */
export const PlainText = (max: number) => textOfLength(0, max).regex(/\S/, "must not be blank").trim();

const Label = PlainText(100);

export const CreateApiTokenRequest = z.strictObject({ name: Label }).meta({ id: "CreateApiTokenRequest" });

export const ApiTokenInfo = z
  .object({ id: z.number().int(), name: z.string(), created_at: Timestamp, revoked_at: Timestamp.nullable() })
  .meta({ id: "ApiToken" });

export const CreatedApiToken = ApiTokenInfo.extend({
  token: z.string().meta({ description: "Shown only in this response; send as Authorization: Bearer <token>" }),
}).meta({ id: "CreatedApiToken" });

const enrollmentKeyFields = {
  description: Label,
  expires_in_seconds: z
    .number()
    .int()
    .min(60)
    .max(365 * 86_400)
    .optional(),
};

/** Single-use (max_uses, if given, is 1), or reusable with an optional limit: two shapes, so the document states the rule. */
export const CreateEnrollmentKeyRequest = z
  .union([
    z.strictObject({
      ...enrollmentKeyFields,
      reusable: z.literal(false).default(false),
      max_uses: z
        .literal(1, "a single-use key has max_uses 1; set reusable to allow more")
        .optional()
        .meta({ description: "A single-use key has max_uses 1; set reusable to allow more" }),
    }),
    z.strictObject({ ...enrollmentKeyFields, reusable: z.literal(true), max_uses: z.number().int().min(1).max(1_000_000).optional() }),
  ])
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
