/**
 * The member list, for the members route and the console: who is a member comes from D1, whether
 * each holds the network's channel now from the network's object.
 */
import type { MemberPage } from "@pilot/protocol";
import type { Database } from "../db/client.ts";
import { networkHub } from "./hub.ts";
import { memberRows, type PageRequest } from "./queries.ts";
import { memberView } from "./views.ts";

/** `forOwner`: the owner's list, which also shows the members the operator suspended, marked. */
export async function memberPage(env: Env, db: Database, networkId: number, page: PageRequest, forOwner: boolean): Promise<MemberPage> {
  const { rows, nextCursor, revision, selfTagging } = await memberRows(db, networkId, page, forOwner);
  const online = new Set(await networkHub(env, networkId).online(rows.map((r) => r.node.id)));
  return {
    members: rows.map((r) => memberView(networkId, r, online.has(r.node.id), selfTagging)),
    next_cursor: nextCursor,
    revision,
  };
}
