/**
 * The registry's D1 schema. `npm run db:generate` turns changes here into SQL under migrations/.
 * Times are Unix milliseconds. Rows of nodes and networks are never deleted, so their AUTOINCREMENT
 * IDs are never handed out twice.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const nodes = sqliteTable(
  "nodes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    publicKey: text("public_key").notNull(),
    hostname: text("hostname"),
    public: integer("public", { mode: "boolean" }).notNull().default(false),
    endpoint: text("endpoint"),
    lanAddrs: text("lan_addrs", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    capabilities: text("capabilities", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** Bumped on deregistration: access tokens carry it, so older tokens stop working at once. */
    tokenEpoch: integer("token_epoch").notNull().default(0),
    registeredAt: integer("registered_at").notNull(),
    deregisteredAt: integer("deregistered_at"),
  },
  (t) => [
    uniqueIndex("nodes_public_key").on(t.publicKey),
    uniqueIndex("nodes_hostname").on(t.hostname),
    // 0 is reserved and 0xFFFFFFFF is broadcast; exhaustion is an error, never a wrap-around.
    check("nodes_id_range", sql`${t.id} BETWEEN 1 AND 4294967294`),
  ],
);

export const networks = sqliteTable(
  "networks",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    name: text("name").notNull(),
    joinRule: text("join_rule", { enum: ["invite", "token"] }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  // Network 0 is the backbone: it has no row, so nobody can be a member of it in a way that grants.
  (t) => [check("networks_id_range", sql`${t.id} BETWEEN 1 AND 65535`)],
);

export const memberships = sqliteTable(
  "memberships",
  {
    networkId: integer("network_id")
      .notNull()
      .references(() => networks.id, { onDelete: "cascade" }),
    nodeId: integer("node_id")
      .notNull()
      .references(() => nodes.id),
    joinedAt: integer("joined_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.networkId, t.nodeId] }),
    index("memberships_node").on(t.nodeId, t.networkId),
    check("memberships_not_backbone", sql`${t.networkId} >= 1`),
  ],
);

/** Mutual trust between two nodes, stored once with the smaller ID first. */
export const trustPairs = sqliteTable(
  "trust_pairs",
  {
    nodeA: integer("node_a")
      .notNull()
      .references(() => nodes.id),
    nodeB: integer("node_b")
      .notNull()
      .references(() => nodes.id),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.nodeA, t.nodeB] }),
    index("trust_pairs_b").on(t.nodeB),
    check("trust_pairs_ordered", sql`${t.nodeA} < ${t.nodeB}`),
  ],
);

/** Single-use challenges for proof of possession, bound to the key they were issued for. */
export const challenges = sqliteTable(
  "challenges",
  {
    nonce: text("nonce").primaryKey(),
    publicKey: text("public_key").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("challenges_expiry").on(t.expiresAt)],
);

export type NodeRow = typeof nodes.$inferSelect;
