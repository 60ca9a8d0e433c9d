/** Port policies for the daemon's unit tests. */
import type { PolicyState, Rule } from "@pilot/protocol";

/** A network without rules: members reach every port. */
export const OPEN: PolicyState = { revision: 0, self_tagging: false, rules: [], tags: {} };

/** A policy with these rules and members' tags. */
export const policyOf = (rules: Rule[], tags: Record<number, string[]> = {}, revision = 1): PolicyState => ({
  revision,
  self_tagging: false,
  rules,
  tags: Object.fromEntries(Object.entries(tags)),
});
