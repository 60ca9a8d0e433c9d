/**
 * The registry's D1 schema. `npm run db:generate` turns changes here into SQL under migrations/.
 * Times are Unix milliseconds. Node and network IDs are AUTOINCREMENT, so they are never handed out
 * twice, even after a network's row is deleted: its audit trail can safely outlive it.
 */
import { sql } from "drizzle-orm";
import { ACCOUNT_AUDIT_ACTIONS, type Rule } from "@pilot/protocol";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const nodes = sqliteTable(
  "nodes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    publicKey: text("public_key").notNull(),
    /** The account whose enrollment key the node registered with; its networks may add it without an invitation. */
    ownerAccountId: integer("owner_account_id").references(() => accounts.id),
    hostname: text("hostname"),
    public: integer("public", { mode: "boolean" }).notNull().default(false),
    endpoint: text("endpoint"),
    lanAddrs: text("lan_addrs", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    capabilities: text("capabilities", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** The tags the node asks for itself; they count only in networks that allow self-tagging. */
    requestedTags: text("requested_tags", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** Bumped on deregistration: access tokens carry it, so older tokens stop working at once. */
    tokenEpoch: integer("token_epoch").notNull().default(0),
    registeredAt: integer("registered_at").notNull(),
    deregisteredAt: integer("deregistered_at"),
    /**
     * Set by the registry's operator (worker/nodes/suspension.ts): every gate and view treats the node
     * as absent, while its memberships and trust pairs are kept for its restoration.
     */
    suspendedAt: integer("suspended_at"),
    /** The operator's words, shown to the node and its owner only. */
    suspendedReason: text("suspended_reason"),
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
    accountId: integer("account_id")
      .notNull()
      .references(() => accounts.id),
    name: text("name").notNull(),
    joinRule: text("join_rule", { enum: ["invite", "token"] }).notNull(),
    /** Kept by the network's Durable Object in the same batch as every membership change. */
    memberCount: integer("member_count").notNull().default(0),
    /** Bumped by every change the network's push channel reports, so clients can spot a gap. */
    revision: integer("revision").notNull().default(0),
    /** Whether members' requested tags count in this network's policy. */
    selfTagging: integer("self_tagging", { mode: "boolean" }).notNull().default(false),
    /** The port policy's rules (protocol's Rule[]); none means members reach every port. */
    policyRules: text("policy_rules", { mode: "json" }).$type<Rule[]>().notNull().default(sql`'[]'`),
    /** Bumped by every change of the policy or of a member's effective tags. */
    policyRevision: integer("policy_revision").notNull().default(0),
    createdAt: integer("created_at").notNull(),
  },
  // Network 0 is the backbone: it has no row, so nobody can be a member of it in a way that grants.
  (t) => [
    uniqueIndex("networks_account_name").on(t.accountId, t.name),
    check("networks_id_range", sql`${t.id} BETWEEN 1 AND 65535`),
  ],
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
    /** The tags the network's owner gave the member; they end with the membership. */
    tags: text("tags", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  },
  (t) => [
    primaryKey({ columns: [t.networkId, t.nodeId] }),
    index("memberships_node").on(t.nodeId, t.networkId),
    check("memberships_not_backbone", sql`${t.networkId} >= 1`),
  ],
);

/**
 * The links a token-gated network is joined with: each a token that may end by expiry, by use
 * limit or by revocation. Tokens are kept readable, as the network's one token always was, so the
 * owner can copy a link's command and URL again at any time (see docs/accounts-and-networks.md);
 * they are compared in constant time. The default link is the one the network's `join` shows and
 * that rotation replaces.
 */
export const joinLinks = sqliteTable(
  "join_links",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    networkId: integer("network_id")
      .notNull()
      .references(() => networks.id, { onDelete: "cascade" }),
    token: text("token").notNull(),
    label: text("label").notNull(),
    isDefault: integer("is_default", { mode: "boolean" }).notNull().default(false),
    maxUses: integer("max_uses"),
    /** Joins the link made; kept in the same batch as the membership each one added. */
    uses: integer("uses").notNull().default(0),
    expiresAt: integer("expires_at"),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [
    index("join_links_network").on(t.networkId, t.id),
    // Two links with one token would leave a join's use uncounted on one of them.
    uniqueIndex("join_links_token").on(t.networkId, t.token).where(sql`${t.revokedAt} IS NULL`),
    uniqueIndex("join_links_default").on(t.networkId).where(sql`${t.isDefault} AND ${t.revokedAt} IS NULL`),
    check("join_links_uses", sql`${t.uses} >= 0 AND (${t.maxUses} IS NULL OR ${t.uses} <= ${t.maxUses})`),
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
    /** Both sides asked (crossing requests), rather than one approving the other. */
    mutual: integer("mutual", { mode: "boolean" }).notNull().default(false),
    /** The network whose shared membership approved the request, or null. Kept after the network is gone. */
    networkId: integer("network_id"),
    /**
     * When the trust ends by itself (ms), or null for trust without end. Every gate compares it with
     * the time of its own query, so the pair counts for nothing from this instant, swept or not.
     */
    expiresAt: integer("expires_at"),
  },
  (t) => [
    primaryKey({ columns: [t.nodeA, t.nodeB] }),
    index("trust_pairs_b").on(t.nodeB),
    index("trust_pairs_expiry").on(t.expiresAt),
    check("trust_pairs_ordered", sql`${t.nodeA} < ${t.nodeB}`),
  ],
);

/** Handshake requests waiting for the target's decision; at most one per sender and target. */
export const handshakeRequests = sqliteTable(
  "handshake_requests",
  {
    fromNode: integer("from_node")
      .notNull()
      .references(() => nodes.id),
    toNode: integer("to_node")
      .notNull()
      .references(() => nodes.id),
    /** How the sender named the target, so replies to it never reveal more than it knew. */
    targetName: text("target_name").notNull(),
    justification: text("justification").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** How long the trust should last once approved (seconds), or null for trust without end. */
    trustTtlSeconds: integer("trust_ttl_seconds"),
  },
  (t) => [
    primaryKey({ columns: [t.fromNode, t.toNode] }),
    index("handshake_requests_to").on(t.toNode, t.expiresAt),
    check("handshake_requests_not_self", sql`${t.fromNode} <> ${t.toNode}`),
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

/** Limits per plan, set by the operator through the admin API (docs/admin.md). */
export const plans = sqliteTable("plans", {
  id: text("id").primaryKey(),
  maxNetworks: integer("max_networks").notNull(),
  maxMembers: integer("max_members").notNull(),
});

export const accounts = sqliteTable(
  "accounts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    email: text("email").notNull(),
    /** `pbkdf2-sha256$<iterations>$<salt>$<hash>`, see worker/accounts/password.ts. */
    passwordHash: text("password_hash").notNull(),
    plan: text("plan")
      .notNull()
      .default("free")
      .references(() => plans.id),
    createdAt: integer("created_at").notNull(),
    /** Set by the registry's operator: the account's sessions, API tokens and enrollment keys are refused. */
    suspendedAt: integer("suspended_at"),
    /** The operator's words, shown to the account when it is refused. */
    suspendedReason: text("suspended_reason"),
  },
  (t) => [uniqueIndex("accounts_email").on(t.email), index("accounts_plan").on(t.plan, t.id)],
);

/** Console sessions. The cookie holds a random secret; only its SHA-256 is stored. */
export const sessions = sqliteTable(
  "sessions",
  {
    idHash: text("id_hash").primaryKey(),
    accountId: integer("account_id")
      .notNull()
      .references(() => accounts.id),
    csrfToken: text("csrf_token").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("sessions_account").on(t.accountId), index("sessions_expiry").on(t.expiresAt)],
);

/** API tokens for automation: shown once, stored as SHA-256. */
export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    accountId: integer("account_id")
      .notNull()
      .references(() => accounts.id),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_tokens_hash").on(t.tokenHash), index("api_tokens_account").on(t.accountId)],
);

/** Keys with which a daemon registers as a node owned by the account: shown once, stored as SHA-256. */
export const enrollmentKeys = sqliteTable(
  "enrollment_keys",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    accountId: integer("account_id")
      .notNull()
      .references(() => accounts.id),
    description: text("description").notNull(),
    keyHash: text("key_hash").notNull(),
    reusable: integer("reusable", { mode: "boolean" }).notNull(),
    maxUses: integer("max_uses"),
    uses: integer("uses").notNull().default(0),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("enrollment_keys_hash").on(t.keyHash), index("enrollment_keys_account").on(t.accountId)],
);

/** A standing offer to a node that its owner's account does not own; it accepts or declines. */
export const invitations = sqliteTable(
  "invitations",
  {
    networkId: integer("network_id")
      .notNull()
      .references(() => networks.id, { onDelete: "cascade" }),
    nodeId: integer("node_id")
      .notNull()
      .references(() => nodes.id),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** The name the owner typed, so the invitation can be withdrawn by it after the node renames. */
    invitedAs: text("invited_as"),
  },
  (t) => [primaryKey({ columns: [t.networkId, t.nodeId] }), index("invitations_node").on(t.nodeId)],
);

/**
 * Each network's trail. It outlives the network: no foreign key ties it to the network's row (network
 * IDs are never handed out twice), and the owner is kept on every entry, so the account can still
 * read the trail of a network it deleted. Entries end only by age (AUDIT_RETENTION_DAYS).
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    networkId: integer("network_id").notNull(),
    /** The network's owner when the entry was written: the one account that may read it. */
    accountId: integer("account_id").notNull(),
    actorType: text("actor_type", { enum: ["account", "node"] }).notNull(),
    actorId: integer("actor_id").notNull(),
    action: text("action").notNull(),
    targetNodeId: integer("target_node_id"),
    /** The name an owner typed when inviting; invitations never record whether a node had it. */
    targetName: text("target_name"),
    at: integer("at").notNull(),
  },
  (t) => [index("audit_log_network").on(t.networkId, t.id), index("audit_log_at").on(t.at)],
);

/**
 * What happened to an account and its credentials: sign-ins (failed ones too, with the address they
 * came from), sign-outs, networks made and deleted, API tokens and enrollment keys made and revoked,
 * plan changes. Never a secret. No foreign key, like the networks' trails: entries end only by age.
 */
export const accountAudit = sqliteTable(
  "account_audit",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    accountId: integer("account_id").notNull(),
    /** "anonymous": someone who did not prove to be the account (a failed sign-in). */
    actorType: text("actor_type", { enum: ["account", "operator", "anonymous"] }).notNull(),
    action: text("action", { enum: ACCOUNT_AUDIT_ACTIONS }).notNull(),
    /** For a network's creation and deletion. */
    networkId: integer("network_id"),
    /** The API token's or enrollment key's ID. */
    targetId: integer("target_id"),
    /** The network's or token's name, the key's description, the new plan. */
    targetName: text("target_name"),
    /** Where a sign-in came from (cf-connecting-ip), so the owner can spot one that was not theirs. */
    ip: text("ip"),
    at: integer("at").notNull(),
  },
  (t) => [index("account_audit_account").on(t.accountId, t.id), index("account_audit_at").on(t.at)],
);

/**
 * A revocation whose cut-off daemons confirm (see worker/revocations/): a removal from a network,
 * an untrust, or any other change that ends some nodes' access to others. `answered_at` is written
 * after the change's answer, in the background: receipts are timed from it (or from `created_at`
 * until it lands). Kept with the network's rows; an untrust has no network.
 */
export const revocations = sqliteTable(
  "revocations",
  {
    id: text("id").primaryKey(),
    networkId: integer("network_id").references(() => networks.id, { onDelete: "cascade" }),
    kind: text("kind").notNull(),
    /** The node the change was about: the one removed, the one that revoked its trust, the one retagged (0: the owner's new policy). */
    nodeId: integer("node_id").notNull(),
    createdAt: integer("created_at").notNull(),
    answeredAt: integer("answered_at"),
    /** For a policy change: the network's policy revision it made, which each member must hold. */
    policyRevision: integer("policy_revision"),
  },
  (t) => [index("revocations_network").on(t.networkId, t.createdAt)],
);

/**
 * The daemons a revocation expects a receipt from, each with the peer it must cut off (0: every
 * peer the network vouched for, for the node removed from it), written in the same batch as the
 * change; the receipt fills in the rest once, and never again.
 */
export const revocationCuts = sqliteTable(
  "revocation_cuts",
  {
    revocationId: text("revocation_id")
      .notNull()
      .references(() => revocations.id, { onDelete: "cascade" }),
    nodeId: integer("node_id").notNull(),
    peer: integer("peer").notNull(),
    /** The daemon's own clock when it had cut the peer off, as signed: shown, never used to time. */
    cutAt: text("cut_at"),
    /** The registry's clock when the receipt arrived. */
    receivedAt: integer("received_at"),
    signature: text("signature"),
  },
  (t) => [primaryKey({ columns: [t.revocationId, t.nodeId, t.peer] }), index("revocation_cuts_node").on(t.nodeId, t.receivedAt)],
);

export type NodeRow = typeof nodes.$inferSelect;
export type AccountRow = typeof accounts.$inferSelect;
export type NetworkRow = typeof networks.$inferSelect;
export type JoinLinkRow = typeof joinLinks.$inferSelect;
