/**
 * A daemon's receipt for its part of a revocation: checked against the node's current identity
 * key and recorded once. A forged receipt, or one for a revocation that expects nothing of this
 * node for this peer (someone else's, or none at all: the same answer), is refused and recorded
 * nowhere; a second receipt for the same cut changes nothing.
 */
import { revocationReceiptMessage, type ReceiptRecorded, type ReceiptRequest } from "@pilot/protocol";
import { and, eq, isNull } from "drizzle-orm";
import { checkSignature } from "../auth/proof.ts";
import type { Database } from "../db/client.ts";
import { revocationCuts, revocations, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

export const revocationNotFound = () =>
  new ApiError(404, "revocation_not_found", "no revocation with this ID expects a receipt from this node for this peer");

/** Records the receipt; the network the revocation belongs to, if any, so its owner's views can be told. */
export async function recordReceipt(
  db: Database,
  origin: string,
  node: NodeRow,
  revocationId: string,
  receipt: ReceiptRequest,
  now = Date.now(),
): Promise<ReceiptRecorded & { networkId: number | null }> {
  // The signature first, so a forged receipt touches nothing and looks up nothing.
  const statement = revocationReceiptMessage(origin, revocationId, node.id, receipt.peer, receipt.cut_at);
  await checkSignature(node.publicKey, receipt.signature, statement, "this node's identity key and this receipt");
  const cut = and(eq(revocationCuts.revocationId, revocationId), eq(revocationCuts.nodeId, node.id), eq(revocationCuts.peer, receipt.peer));
  const [recorded, [expected]] = await db.batch([
    db
      .update(revocationCuts)
      .set({ cutAt: receipt.cut_at, receivedAt: now, signature: receipt.signature })
      .where(and(cut, isNull(revocationCuts.receivedAt)))
      .returning({ peer: revocationCuts.peer }),
    db
      .select({ networkId: revocations.networkId })
      .from(revocationCuts)
      .innerJoin(revocations, eq(revocations.id, revocationCuts.revocationId))
      .where(cut),
  ]);
  if (!expected) throw revocationNotFound();
  return { revocation_id: revocationId, result: recorded.length > 0 ? "recorded" : "already_recorded", networkId: expected.networkId };
}
