/**
 * Revocation receipts: daemons confirm their cut-offs and read what they still owe; a network's
 * owner reads how its revocations went; a node reads a revocation it is party to (its untrust).
 */
import { PendingCutList, ReceiptRecorded, ReceiptRequest, RevocationId, RevocationList, RevocationSummary } from "@pilot/protocol";
import { z } from "zod";
import { requireAccount } from "../auth/account-auth.ts";
import { requireNode } from "../auth/node-auth.ts";
import { database } from "../db/client.ts";
import { networkHub } from "../networks/hub.ts";
import { networkNotFound, toError } from "../networks/outcome.ts";
import { ownedNetwork } from "../networks/queries.ts";
import { accountAuth, bearer, errors, json, jsonBody, apiRoute } from "../openapi.ts";
import { registryOrigin } from "../origin.ts";
import { createRouter } from "../router.ts";
import { recordReceipt, revocationNotFound } from "../revocations/receipts.ts";
import { networkRevocations, pendingCuts, revocationSummary } from "../revocations/summaries.ts";
import { NetworkParam } from "./networks.ts";

const node = { security: bearer, middleware: requireNode };
const RevocationParam = z.object({ id: RevocationId });

export const revocationRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/revocations/{id}/receipts",
      operationId: "recordReceipt",
      tags: ["revocations"],
      summary: "Confirm, signed with the node's identity key, that it has cut a peer off",
      description:
        "Counted once: a second receipt for the same cut answers `already_recorded` and changes nothing. A signature that does not verify against the node's current key is refused with `signature_invalid`; a revocation that expects no receipt from this node for this peer, and one that does not exist, get the same `revocation_not_found`. Neither is recorded.",
      ...node,
      request: { params: RevocationParam, body: jsonBody(ReceiptRequest) },
      responses: { 200: json(ReceiptRecorded, "Counted (now or before)"), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { networkId, ...answer } = await recordReceipt(database(c.env), registryOrigin(c), c.var.node, id, c.req.valid("json"));
      if (answer.result === "recorded") c.var.log.info("revocation_receipt", { revocation_id: id, node_id: c.var.node.id, network_id: networkId });
      if (networkId !== null && answer.result === "recorded") c.executionCtx.waitUntil(networkHub(c.env, networkId).revocationChanged(networkId, id));
      return c.json(answer, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/revocations/{id}",
      operationId: "getRevocation",
      tags: ["revocations"],
      summary: "A revocation the calling node is party to: the node it concerns, or one that must confirm it",
      description: "How an untrust's requester sees both daemons' receipts. To any other node the revocation does not exist.",
      ...node,
      request: { params: RevocationParam },
      responses: { 200: json(RevocationSummary, "Where its receipts stand"), ...errors(404) },
    }),
    async (c) => {
      const summary = await revocationSummary(database(c.env), c.req.valid("param").id, c.var.node.id);
      if (!summary) throw revocationNotFound();
      return c.json(summary, 200);
    },
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/nodes/self/revocations",
      operationId: "listPendingCuts",
      tags: ["revocations"],
      summary: "Cut-offs the calling node has not confirmed yet, newest first (100 at most)",
      ...node,
      responses: { 200: json(PendingCutList, "Unconfirmed cut-offs") },
    }),
    async (c) => c.json({ revocations: await pendingCuts(database(c.env), c.var.node.id) }, 200),
  )
  .openapi(
    apiRoute({
      method: "get",
      path: "/networks/{id}/revocations",
      operationId: "listNetworkRevocations",
      tags: ["revocations"],
      summary: "The network's recent revocations and how many daemons confirmed each, for its owner",
      security: accountAuth,
      middleware: requireAccount,
      request: { params: NetworkParam },
      responses: { 200: json(RevocationList, "Newest first"), ...errors(404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const db = database(c.env);
      if (!(await ownedNetwork(db, id, c.var.account.id))) throw toError(networkNotFound());
      return c.json({ revocations: await networkRevocations(db, id) }, 200);
    },
  );
