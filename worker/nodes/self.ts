/** What a node says about itself: its hostname and visibility, and in heartbeats its endpoints and capabilities. */
import type { HeartbeatRequest, UpdateSelfRequest } from "@pilot/protocol";
import { revoked } from "../auth/node-auth.ts";
import { database } from "../db/client.ts";
import { violates } from "../db/constraint.ts";
import { nodes, type NodeRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { networkHub } from "../networks/hub.ts";
import { networkIdsOf } from "../networks/queries.ts";
import { regate } from "../relay/regate.ts";
import { nodeHub } from "./hub.ts";
import { asTokenSawIt } from "./queries.ts";

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Sets or clears the hostname and the visibility; a hostname another node holds changes nothing.
 * Setting a name (the schema has refused reserved ones) is a claim, and `countClaim` spends one of
 * the caller's budget first: a taken name answers 409, so counting claims keeps that answer from
 * listing private names.
 */
export async function updateSelf(env: Env, node: NodeRow, update: UpdateSelfRequest, countClaim: () => Promise<void>): Promise<NodeRow> {
  if (update.hostname) await countClaim();
  let row: NodeRow | undefined;
  try {
    row = await database(env).update(nodes).set({ hostname: update.hostname, public: update.public }).where(asTokenSawIt(node)).returning().get();
  } catch (e) {
    if (violates(e, "nodes.hostname")) {
      throw new ApiError(409, "hostname_taken", `the hostname "${update.hostname}" belongs to another node; choose another`);
    }
    throw e;
  }
  if (!row) throw revoked();
  // Strangers that could reach a public node through the relay must stop before the answer.
  if (update.public === false) await regate(env, [node.id]);
  return row;
}

/**
 * Records a heartbeat: what it reports is written, and the node's networks told, only when it
 * differs from what is stored; presence goes to the node's own object. Returns whether anything changed.
 */
export async function reportHeartbeat(env: Env, node: NodeRow, report: HeartbeatRequest): Promise<boolean> {
  const changes: Partial<Pick<NodeRow, "endpoint" | "lanAddrs" | "capabilities">> = {};
  if (report.endpoint !== undefined && report.endpoint !== node.endpoint) changes.endpoint = report.endpoint;
  if (report.lan_addrs && !sameList(report.lan_addrs, node.lanAddrs)) changes.lanAddrs = report.lan_addrs;
  if (report.capabilities && !sameList(report.capabilities, node.capabilities)) changes.capabilities = report.capabilities;
  const changed = Object.keys(changes).length > 0;
  if (changed) {
    const db = database(env);
    const row = await db.update(nodes).set(changes).where(asTokenSawIt(node)).returning({ id: nodes.id }).get();
    if (!row) throw revoked();
    await Promise.all((await networkIdsOf(db, node.id)).map((n) => networkHub(env, n).memberUpdated(n, node.id)));
  }
  await nodeHub(env, node.id).heartbeat(node.tokenEpoch);
  return changed;
}
