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
