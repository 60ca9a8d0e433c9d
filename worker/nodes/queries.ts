/** Looking nodes up, and the condition every write made with a node's access token carries. */
import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { nodes, type NodeRow } from "../db/schema.ts";

/** A node by ID, registered or not. */
export const nodeById = (db: Database, id: number) => db.query.nodes.findFirst({ where: eq(nodes.id, id) });

/** A node by its identity key, registered or not: a key keeps its node ID for good. */
export const nodeByKey = (db: Database, publicKey: string) => db.query.nodes.findFirst({ where: eq(nodes.publicKey, publicKey) });

/** A node by hostname: only a registered node holds one. */
export const nodeByHostname = (db: Database, hostname: string) => db.query.nodes.findFirst({ where: eq(nodes.hostname, hostname) });

/**
 * The node as the token saw it: still registered, same epoch. Every write is conditioned on this,
 * so a request whose token was revoked while it was in flight changes nothing.
 */
export const asTokenSawIt = (node: NodeRow) => and(eq(nodes.id, node.id), eq(nodes.tokenEpoch, node.tokenEpoch), isNull(nodes.deregisteredAt));
