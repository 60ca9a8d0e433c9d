/** Schemas of the operator's admin API under /v1/admin (docs/admin.md). */
import { z } from "zod";
import { NodeId, NodeIdText, Timestamp } from "./api.ts";
import { PlainText } from "./accounts-api.ts";
import { PageQuery } from "./networks-api.ts";
import { textOfLength } from "./schema-rules.ts";

export const PlanId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "must be 1-32 lowercase letters, digits, - or _, starting with a letter or digit")
  .meta({ example: "pro" });

export const PlanLimitsRequest = z
  .strictObject({
    max_networks: z.number().int().min(0).max(65_535).meta({ description: "Networks an account on the plan may own (0: none)" }),
    max_members: z.number().int().min(1).max(10_000_000).meta({ description: "Agents each of its networks may hold" }),
  })
  .meta({ id: "PlanLimitsRequest" });

export const Plan = z
  .object({
    plan: PlanId,
    max_networks: z.number().int(),
    max_members: z.number().int(),
    accounts: z.number().int().meta({ description: "Accounts on the plan now" }),
  })
  .meta({ id: "Plan" });
export type Plan = z.infer<typeof Plan>;

export const PlanList = z.object({ plans: z.array(Plan) }).meta({ id: "PlanList" });

export const PlanParam = z.object({ id: PlanId.meta({ param: { name: "id", in: "path" } }) });

export const AccountIdParam = z.object({
  id: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, "must be an account ID")
    .transform(Number)
    .meta({ param: { name: "id", in: "path" }, example: "42" }),
});

export const NodeIdParam = z.object({ id: NodeIdText.meta({ param: { name: "id", in: "path" } }) });

const flag = z.enum(["true", "false"]).transform((v) => v === "true");

/** A page of accounts (`cursor`, `limit` as every paged route takes them), narrowed by each filter given. */
export const AccountQuery = PageQuery.extend({
  email: textOfLength(1, 254).optional().meta({ description: "Exact email (case-insensitive)" }),
  email_contains: textOfLength(1, 254).optional().meta({ description: "Part of the email, anywhere in it (case-insensitive)" }),
  plan: PlanId.optional(),
  suspended: flag.optional().meta({ description: "true: suspended accounts only; false: the others only" }),
});

const Suspension = {
  suspended_at: Timestamp.nullable().meta({ description: "When the operator suspended it; null when it is not suspended" }),
  suspension_reason: z.string().nullable().meta({ description: "The operator's words, shown to its owner" }),
};

export const AccountSummary = z
  .object({ account_id: z.number().int(), email: z.string(), plan: PlanId, created_at: Timestamp, ...Suspension })
  .meta({ id: "AccountSummary" });
export type AccountSummary = z.infer<typeof AccountSummary>;

export const AccountPage = z
  .object({ accounts: z.array(AccountSummary), next_cursor: z.string().nullable() })
  .meta({ id: "AccountPage", description: "Accounts in ID order; pass next_cursor as ?cursor= for the next page" });

export const AccountDetail = AccountSummary.extend({
  limits: z.object({ max_networks: z.number().int(), max_members: z.number().int() }).meta({ description: "The plan's limits" }),
  usage: z.object({
    networks: z.number().int(),
    largest_network_members: z.number().int().meta({ description: "Members of its largest network (0 without networks)" }),
    nodes_owned: z.number().int().meta({ description: "Registered nodes enrolled with its keys" }),
  }),
}).meta({ id: "AccountDetail" });
export type AccountDetail = z.infer<typeof AccountDetail>;

export const SetPlanRequest = z.strictObject({ plan: PlanId }).meta({ id: "SetPlanRequest" });

export const SuspendRequest = z
  .strictObject({ reason: PlainText(500).optional().meta({ description: "Shown to the owner and, for a node, to its daemon" }) })
  .meta({ id: "SuspendRequest" });

export const NodeSuspension = z
  .object({ node_id: NodeId, ...Suspension })
  .meta({ id: "NodeSuspension", description: "The node's suspension as it stands after the change" });
export type NodeSuspension = z.infer<typeof NodeSuspension>;
