/**
 * The policy state a network's channels carry: its rules and every member's effective tags, read
 * from D1 (policy.ts pushes it after each change), and the copy the network's object keeps for the
 * greetings of channels that open between changes.
 */
import { and, eq, isNull } from "drizzle-orm";
import { effectiveTags, type PolicyState } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { memberships, networks, nodes } from "../db/schema.ts";

/** The policy with every member's effective tags, as the network's channel carries it; undefined for a missing network. */
export async function policyState(db: Database, networkId: number): Promise<PolicyState | undefined> {
  const [[net], members] = await db.batch([
    db
      .select({ selfTagging: networks.selfTagging, rules: networks.policyRules, revision: networks.policyRevision })
      .from(networks)
      .where(eq(networks.id, networkId)),
    db
      .select({ nodeId: memberships.nodeId, tags: memberships.tags, requested: nodes.requestedTags })
      .from(memberships)
      .innerJoin(nodes, eq(nodes.id, memberships.nodeId))
      // A suspended member is absent here as in the member list (nodes/suspension.ts).
      .where(and(eq(memberships.networkId, networkId), isNull(nodes.suspendedAt))),
  ]);
  if (!net) return undefined;
  const tags = Object.fromEntries(members.map((m) => [String(m.nodeId), effectiveTags(m.tags, m.requested, net.selfTagging)]));
  return { revision: net.revision, self_tagging: net.selfTagging, rules: net.rules, tags };
}

/** How long a kept state may serve greetings before it is read again whatever the revisions say. */
export const POLICY_MEMO_MS = 60_000;

/**
 * The state greetings carry, kept by the network's object between changes. Every greeting carries
 * every member's tags, so reading them from D1 for each of n channels opening (as all do after a
 * deployment) would read n² rows. The state is kept under the network's two revisions, read with
 * the greeting: every change to its members, their tags or its rules moves one of them. Three
 * changes are written by the Worker first and move a revision a moment later, in the object's
 * turn (a node's suspension and restoration, worker/nodes/suspension.ts, and a node's requested
 * tags, policy.ts): in between, a greeting is as old as the channels already open, which hear the
 * change with that revision. Should that second step fail, the state is read again after
 * POLICY_MEMO_MS all the same.
 */
export class PolicyMemo {
  #kept: { key: string; state: PolicyState; until: number } | undefined;

  async read(db: Database, network: { id: number; revision: number; policyRevision: number }, now = Date.now()): Promise<PolicyState | undefined> {
    const key = `${network.revision}:${network.policyRevision}`;
    if (this.#kept?.key === key && now < this.#kept.until) return this.#kept.state;
    const state = await policyState(db, network.id);
    this.#kept = state && { key, state, until: now + POLICY_MEMO_MS };
    return state;
  }
}
