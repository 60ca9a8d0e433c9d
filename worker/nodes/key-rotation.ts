/**
 * A node moving to a new identity key: it keeps its node ID, address, hostname, memberships and
 * trust. It proves it holds both keys (a signature by each over one statement that names the node,
 * both keys, this registry and a fresh challenge for the new key), every token issued before is
 * revoked, and the nodes that may see it through a relation are told, so they stop taking the old
 * key's certificates and drop the tunnels it set up (docs/registry.md, "Rotating a node's key").
 */
import { and, eq, exists, sql } from "drizzle-orm";
import { keyRotationMessage, type RotateKeyRequest } from "@pilot/protocol";
import { revoked } from "../auth/node-auth.ts";
import { checkSignature, consumeChallenge } from "../auth/proof.ts";
import { database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { auditLog, memberships, networks, nodes, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { networkIdsOf } from "../networks/queries.ts";
import { relatedNodeIds } from "../privacy.ts";
import { attempt, deliverToEach } from "./delivery.ts";
import { nodeHub } from "./hub.ts";
import { iso } from "../time.ts";
import { asTokenSawIt, nodeByKey } from "./queries.ts";
import type { Logger } from "../observability/log.ts";

const taken = (message: string) => new ApiError(409, "public_key_taken", message);

/**
 * Checks both signatures (nothing changes if either is bad), that no node holds the new key, then
 * spends the challenge and commits the key and the token epoch in one batch with the audit entries.
 * Returns the node as it is now and when the change was made.
 */
export async function rotateKey(env: Env, log: Logger, origin: string, node: NodeRow, request: RotateKeyRequest): Promise<{ node: NodeRow; rotatedAt: number }> {
  const db = database(env);
  const newKey = request.public_key;
  if (newKey === node.publicKey) throw taken("the new key is already this node's key; make a new one");
  const statement = keyRotationMessage(origin, node.id, node.publicKey, newKey, request.challenge);
  const forWhat = `node ${node.id}'s move from its current key to the new one at ${origin}`;
  await checkSignature(newKey, request.signature, statement, `the new key and ${forWhat}`);
  await checkSignature(node.publicKey, request.previous_signature, statement, `this node's current key and ${forWhat}`);
  // Keys stay with their node even after it deregisters (it comes back under the same ID with it).
  if (await nodeByKey(db, newKey)) throw taken("another node holds this key; make a new one");
  await consumeChallenge(db, request.challenge, newKey);
  const rotatedAt = Date.now();
  let updated: NodeRow | undefined;
  try {
    [[updated]] = await db.batch([
      db
        .update(nodes)
        .set({ publicKey: newKey, tokenEpoch: sql`${nodes.tokenEpoch} + 1` })
        .where(and(asTokenSawIt(node), eq(nodes.publicKey, node.publicKey)))
        .returning(),
      // Each of its networks' logs, written only if the change above was made.
      db.insert(auditLog).select(
        db
          .select({
            // Every column, in the table's order, as an INSERT … SELECT needs them: a null ID is the next one.
            id: sql<number>`NULL`.as("id"),
            networkId: memberships.networkId,
            accountId: networks.accountId,
            actorType: sql<"node">`'node'`.as("actor_type"),
            actorId: sql<number>`${node.id}`.as("actor_id"),
            action: sql<string>`'key_rotated'`.as("action"),
            targetNodeId: sql<number>`${node.id}`.as("target_node_id"),
            targetName: sql<null>`NULL`.as("target_name"),
            at: sql<number>`${rotatedAt}`.as("at"),
          })
          .from(memberships)
          .innerJoin(networks, eq(networks.id, memberships.networkId))
          .where(and(eq(memberships.nodeId, node.id), exists(db.select({ one: sql`1` }).from(nodes).where(and(eq(nodes.id, node.id), eq(nodes.publicKey, newKey)))))),
      ),
    ]);
  } catch (e) {
    // Another node registered the key between the check above and this batch.
    if (violates(e, "nodes.public_key")) throw taken("another node holds this key; make a new one");
    throw e;
  }
  if (!updated) throw revoked();
  await announce(env, log, updated, rotatedAt);
  return { node: updated, rotatedAt };
}

/**
 * After the commit, and never failing the answer (D1 holds the truth): whatever holds a token from
 * before is disconnected (the node's own daemon connects again with its new token), and every node
 * related to it hears of the new key through its inbox, which keeps the news for a node offline now.
 */
async function announce(env: Env, log: Logger, node: NodeRow, rotatedAt: number): Promise<void> {
  const db = database(env);
  const rotation = `key rotation of node ${node.id}`;
  await attempt(`close the channels of the ${rotation}`, () => nodeHub(env, node.id).rekeyed(), log);
  for (const networkId of await networkIdsOf(db, node.id)) {
    await attempt(`close the channel to network ${networkId} of the ${rotation}`, () => networkHub(env, networkId).rekeyed(node.id), log);
  }
  const event = { type: "key_rotated", node_id: node.id, public_key: node.publicKey, rotated_at: iso(rotatedAt) } as const;
  await attempt(`tell the peers of the ${rotation}`, async () => deliverToEach(env, (await relatedNodeIds(db, node.id)).map((nodeId) => ({ nodeId, event }))), log);
}
