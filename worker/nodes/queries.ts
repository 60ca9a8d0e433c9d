/** Looking nodes up. */
import { eq } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { nodes } from "../db/schema.ts";

/** A node by ID, registered or not. */
export const nodeById = (db: Database, id: number) => db.query.nodes.findFirst({ where: eq(nodes.id, id) });

/** A node by hostname: only a registered node holds one. */
export const nodeByHostname = (db: Database, hostname: string) => db.query.nodes.findFirst({ where: eq(nodes.hostname, hostname) });
