/**
 * What a node signs to prove it holds its identity key. The message binds the purpose, the
 * registry's origin and a single-use challenge, so a signature is good for one request to one
 * registry: it cannot be replayed, reused for another purpose, or relayed by a rogue registry.
 */

export type AuthPurpose = "register" | "token";

export const CHALLENGE_TTL_SECONDS = 60;

export function authMessage(purpose: AuthPurpose, origin: string, challenge: string): Uint8Array {
  return new TextEncoder().encode(`pilot-auth-v1\n${purpose}\n${origin}\n${challenge}`);
}

/**
 * What a node signs, with its current identity key and with the new one, to move to the new key
 * (`POST /v1/nodes/self/key`). Binding the node, both keys, the registry and a single-use challenge
 * means the pair of signatures moves this node to this key once, at this registry, and nothing
 * else: not another node, not another key, not a second time.
 */
export function keyRotationMessage(origin: string, nodeId: number, currentKey: string, newKey: string, challenge: string): Uint8Array {
  return new TextEncoder().encode(`pilot-key-rotation-v1\n${origin}\n${nodeId}\n${currentKey}\n${newKey}\n${challenge}`);
}

/**
 * What a daemon signs, with its current identity key, to confirm that it has cut a peer off for a
 * revocation (`POST /v1/revocations/{id}/receipts`). Binding the registry, the revocation, the
 * confirming node, the peer and the time means a receipt counts once, for this node's part of this
 * revocation at this registry, and for nothing else. Peer 0 stands for every peer the revoked
 * network vouched for (the receipt of the node removed from it).
 */
export function revocationReceiptMessage(origin: string, revocationId: string, nodeId: number, peer: number, cutAt: string): Uint8Array {
  return new TextEncoder().encode(`pilot-revocation-receipt-v1\n${origin}\n${revocationId}\n${nodeId}\n${peer}\n${cutAt}`);
}
