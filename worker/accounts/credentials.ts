/** Accounts by email and password: sign-up makes one, sign-in finds it. */
import type { Credentials } from "@pilot/protocol";
import { eq } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { accounts, type AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { hashPassword, verifyPassword } from "./password.ts";
import { refuseSuspended } from "./suspension.ts";

export async function createAccount(db: Database, { email, password }: Credentials): Promise<AccountRow> {
  try {
    return await db.insert(accounts).values({ email, passwordHash: await hashPassword(password), createdAt: Date.now() }).returning().get();
  } catch (e) {
    if (violates(e, "accounts.email")) throw new ApiError(409, "email_taken", "an account with this email exists; sign in instead");
    throw e;
  }
}

/**
 * The account these credentials open. An unknown email costs a password check too, so it takes as
 * long as a wrong password. A suspended account is told so only after its password is right.
 */
export async function signIn(db: Database, { email, password }: Credentials): Promise<AccountRow> {
  const row = await db.query.accounts.findFirst({ where: eq(accounts.email, email) });
  if (!(await verifyPassword(password, row?.passwordHash)) || !row) {
    throw new ApiError(401, "invalid_credentials", "wrong email or password");
  }
  refuseSuspended(row);
  return row;
}
