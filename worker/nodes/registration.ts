/**
 * A node's registration: proving its key, taking an owner from an enrollment key, coming back after
 * deregistering with the same node ID, and deregistering.
 */
import { and, eq, exists, isNotNull, or, sql } from "drizzle-orm";
import type { RegisterRequest } from "@pilot/protocol";
import { checkEnrollmentKey, redeemEnrollmentKey } from "../accounts/enrollment-keys.ts";
import { revoked } from "../auth/node-auth.ts";
import { verifyProof } from "../auth/proof.ts";
import { database, type Database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { handshakeRequests, invitations, nodes, trustPairs, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { networkIdsOf } from "../networks/queries.ts";
import { deliverToEach } from "./delivery.ts";
import { nodeHub } from "./hub.ts";
import { asTokenSawIt, nodeByKey } from "./queries.ts";
import type { Logger } from "../observability/log.ts";
import { refuseSuspendedNode } from "./suspension.ts";

/** Registers the key proven in `request`, or finds the node it already has. */
export async function registerNode(env: Env, log: Logger, origin: string, request: RegisterRequest): Promise<{ created: boolean; node: NodeRow }> {
  const { enrollment_key, ...proof } = request;
  const db = database(env);
  let row = await nodeByKey(db, proof.public_key);
  const enrollment = enrollment_key ? await checkEnrollmentKey(db, enrollment_key, row) : undefined;
  await verifyProof(db, "register", origin, proof);
  // Told only to whoever proved the key: the node itself.
  if (row && row.deregisteredAt === null) refuseSuspendedNode(row);
  const owner = enrollment?.spend ? await redeemEnrollmentKey(db, enrollment_key!) : undefined;
  let created = false;
  if (!row) {
    try {
      row = await db
        .insert(nodes)
        .values({ publicKey: proof.public_key, ownerAccountId: owner, registeredAt: Date.now() })
        .onConflictDoNothing({ target: nodes.publicKey })
        .returning()
        .get();
    } catch (e) {
      if (violates(e, "nodes_id_range")) {
        throw new ApiError(503, "address_space_exhausted", "every 32-bit node ID has been allocated; this registry cannot take new nodes");
      }
      throw e;
    }
    created = row !== undefined;
    // Lost a race with a concurrent registration of the same key: that one created the node.
    row ??= await nodeByKey(db, proof.public_key);
  } else if (row.deregisteredAt !== null || (owner !== undefined && owner !== row.ownerAccountId)) {
    // A deregistration that failed half-way may have left memberships; they must not come back.
    if (row.deregisteredAt !== null) await leaveAllNetworks(env, log.requestId, row.id);
    row = await db.update(nodes).set({ deregisteredAt: null, ownerAccountId: owner }).where(eq(nodes.publicKey, proof.public_key)).returning().get();
  }
  if (!row) throw new Error("registered key vanished");
  return { created, node: row };
}

/** Whether the node is deregistered now; guards cleanup that must not touch a re-registered node. */
const isDeregistered = (db: Database, id: number) =>
  exists(db.select({ one: sql`1` }).from(nodes).where(and(eq(nodes.id, id), isNotNull(nodes.deregisteredAt))));

/**
 * Revokes the node's tokens, frees its hostname, makes it private, forgets its endpoints and owner,
 * and removes its trust pairs, invitations and handshake requests, in one batch; then its peers
 * and networks hear of it and its own object forgets it.
 */
export async function deregisterNode(env: Env, log: Logger, node: NodeRow): Promise<void> {
  const id = node.id;
  const db = database(env);
  const [updated, ended] = await db.batch([
    db
      .update(nodes)
      .set({
        deregisteredAt: Date.now(),
        ownerAccountId: null,
        hostname: null,
        public: false,
        endpoint: null,
        lanAddrs: [],
        capabilities: [],
        tokenEpoch: sql`${nodes.tokenEpoch} + 1`,
      })
      .where(asTokenSawIt(node))
      .returning({ id: nodes.id }),
    db
      .delete(trustPairs)
      .where(and(or(eq(trustPairs.nodeA, id), eq(trustPairs.nodeB, id)), isDeregistered(db, id)))
      .returning({ nodeA: trustPairs.nodeA, nodeB: trustPairs.nodeB }),
    db.delete(invitations).where(and(eq(invitations.nodeId, id), isDeregistered(db, id))),
    db
      .delete(handshakeRequests)
      .where(and(or(eq(handshakeRequests.fromNode, id), eq(handshakeRequests.toNode, id)), isDeregistered(db, id))),
  ]);
  if (updated.length === 0) throw revoked();
  // Every peer it trusted, by hand or through a network, hears that the trust is gone.
  await deliverToEach(env, ended.map((p) => ({ nodeId: p.nodeA === id ? p.nodeB : p.nodeA, event: { type: "trust_revoked", node_id: id } })));
  // Now that no join can land (they are conditioned on the node being registered), memberships
  // end through each network's object, so members hear of it and channels close.
  log.info("node_deregistered", { node_id: id, trust_pairs_ended: ended.length });
  await leaveAllNetworks(env, log.requestId, id);
  await nodeHub(env, id).clear();
}

async function leaveAllNetworks(env: Env, requestId: string | null, nodeId: number): Promise<void> {
  for (const networkId of await networkIdsOf(database(env), nodeId)) {
    // A network deleted meanwhile has already let the node go.
    await networkHub(env, networkId).remove(networkId, { type: "node", id: nodeId }, nodeId, "deregistered", requestId);
  }
}
