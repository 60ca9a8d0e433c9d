import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema.ts";

/**
 * The registry's D1 database through drizzle. Its `$client` is the D1 binding itself, for the few
 * statements drizzle cannot build (INSERT … SELECT … WHERE with RETURNING, in a batch); each module
 * that uses it says why where it does.
 */
export const database = (env: Env) => drizzle(env.DB, { schema });
export type Database = ReturnType<typeof database>;
