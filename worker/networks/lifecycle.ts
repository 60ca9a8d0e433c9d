/**
 * A network's life as its owner runs it: creation within the plan (a token-gated one with its
 * default join link), deletion. Deletion runs inside the network's Durable Object, like membership
 * changes; join links, rotation included, are in join-links.ts.
 */
import { eq } from "drizzle-orm";
import type { CreateNetworkRequest } from "@pilot/protocol";
import { recordAccountEvent } from "../accounts/audit.ts";
import { planUsage } from "../accounts/plan.ts";
import type { Database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { auditLog, invitations, joinLinks, memberships, networks, trustPairs, type AccountRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { trustEnded } from "../trust/pairs.ts";
import type { NetworkHost } from "./host.ts";
import { DEFAULT_LINK_LABEL } from "./join-links.ts";
import { generateJoinToken } from "./join-token.ts";
import { networkNotFound, success, type Outcome } from "./outcome.ts";
import { ownedNetwork } from "./queries.ts";

/** Creates a network for the account, if its plan has room for one more; returns its ID. */
export async function createNetwork(db: Database, owner: AccountRow, request: CreateNetworkRequest, howToGetMore: string): Promise<number> {
  const { name, join_rule } = request;
  const joinToken = (request.join_rule === "token" ? request.token : undefined) ?? generateJoinToken();
  const now = Date.now();
  const DB = db.$client;
  let created: { id: number } | null;
  try {
    // One statement checks the plan and inserts, so concurrent creations cannot pass the limit;
    // the audit entries (the network's trail and the account's) and the default join link land in
    // the same transaction, and only if the network did. Plain D1: drizzle cannot write an
    // INSERT … SELECT without a FROM.
    const theNew = "FROM networks WHERE account_id = ?1 AND name = ?2 AND created_at = ?3";
    const [inserted] = await DB.batch<{ id: number }>([
      DB.prepare(
        `INSERT INTO networks (account_id, name, join_rule, created_at)
         SELECT ?1, ?2, ?3, ?4
         WHERE (SELECT count(*) FROM networks WHERE account_id = ?1)
               < (SELECT p.max_networks FROM accounts a JOIN plans p ON p.id = a.plan WHERE a.id = ?1)
         RETURNING id`,
      ).bind(owner.id, name, join_rule, now),
      DB.prepare(`INSERT INTO audit_log (network_id, account_id, actor_type, actor_id, action, at) SELECT id, ?1, 'account', ?1, 'network_created', ?3 ${theNew}`).bind(
        owner.id,
        name,
        now,
      ),
      DB.prepare(
        `INSERT INTO account_audit (account_id, actor_type, action, network_id, target_name, at) SELECT ?1, 'account', 'network_created', id, ?2, ?3 ${theNew}`,
      ).bind(owner.id, name, now),
      DB.prepare(
        `INSERT INTO join_links (network_id, token, label, is_default, created_at) SELECT id, ?4, ?5, 1, ?3 ${theNew} AND join_rule = 'token'`,
      ).bind(owner.id, name, now, joinToken, DEFAULT_LINK_LABEL),
    ]);
    created = inserted?.results[0] ?? null;
  } catch (e) {
    if (violates(e, "networks.account_id, networks.name")) {
      throw new ApiError(409, "network_name_taken", `you already have a network named "${name}"; choose another name`);
    }
    if (violates(e, "networks_id_range")) {
      throw new ApiError(503, "address_space_exhausted", "every 16-bit network ID has been allocated; this registry cannot create networks");
    }
    throw e;
  }
  if (!created) {
    const usage = await planUsage(db, owner);
    throw new ApiError(403, "plan_limit", `the ${usage.plan} plan allows ${usage.max_networks} network(s); delete one, or ${howToGetMore}`);
  }
  return created.id;
}

/**
 * Deletes the network and every association with it but its trail, which ends with the deletion and
 * stays readable by the account (see audit.ts); nodes keep their registration and trust. Relayed
 * frames between former members stop before the answer.
 */
export async function deleteNetwork(host: NetworkHost, networkId: number, accountId: number): Promise<Outcome<null>> {
  const net = await ownedNetwork(host.db, networkId, accountId);
  if (!net) return networkNotFound();
  const db = host.db;
  const at = Date.now();
  const [members, invited, , , , , vouched] = await db.batch([
    db.delete(memberships).where(eq(memberships.networkId, networkId)).returning({ nodeId: memberships.nodeId }),
    db.delete(invitations).where(eq(invitations.networkId, networkId)).returning({ nodeId: invitations.nodeId }),
    db.insert(auditLog).values({ networkId, accountId, actorType: "account", actorId: accountId, action: "network_deleted", targetName: net.row.name, at }),
    recordAccountEvent(db, accountId, "network_deleted", { networkId, targetName: net.row.name, at }),
    db.delete(joinLinks).where(eq(joinLinks.networkId, networkId)),
    db.delete(networks).where(eq(networks.id, networkId)),
    db.delete(trustPairs).where(eq(trustPairs.networkId, networkId)).returning(),
  ]);
  await host.regate(members.map((m) => m.nodeId));
  host.log.info("network_deleted", { network_id: networkId, account_id: accountId, members: members.length, trust_pairs_ended: vouched.length });
  host.deliver(trustEnded(vouched));
  host.notifyAll(members, { type: "network_removed", network_id: networkId, reason: "deleted" });
  host.notifyAll(invited, { type: "invitation_ended", network_id: networkId, reason: "deleted" });
  await host.cancelInvitationExpiry();
  host.broadcast({ type: "network_deleted", network_id: networkId });
  host.closeAllChannels();
  return success(null);
}
