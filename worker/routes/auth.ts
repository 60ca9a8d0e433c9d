import { AccessToken, ChallengeRequest, ChallengeResponse, ProofRequest } from "@pilot/protocol";
import { issueAccessToken } from "../auth/access-token.ts";
import { issueChallenge, verifyProof } from "../auth/proof.ts";
import { database } from "../db/client.ts";
import { unauthorized } from "../errors.ts";
import { nodeByKey } from "../nodes/queries.ts";
import { refuseSuspendedNode } from "../nodes/suspension.ts";
import { errors, json, jsonBody, apiRoute, open } from "../openapi.ts";
import { limitNodeAuth } from "../rate-limit.ts";
import { registryOrigin } from "../origin.ts";
import { createRouter } from "../router.ts";

export const auth = createRouter()
  .openapi(
    apiRoute({
      method: "post",
      path: "/auth/challenge",
      operationId: "requestChallenge",
      tags: ["auth"],
      security: open,
      summary: "Get a single-use challenge for an identity key",
      middleware: [limitNodeAuth] as const,
      request: { body: jsonBody(ChallengeRequest) },
      responses: { 201: json(ChallengeResponse, "Challenge issued"), ...errors(422, 429) },
    }),
    async (c) => c.json(await issueChallenge(database(c.env), c.req.valid("json").public_key), 201),
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/auth/token",
      operationId: "requestAccessToken",
      tags: ["auth"],
      security: open,
      summary: "Exchange a signed challenge for an access token of a registered node",
      middleware: [limitNodeAuth] as const,
      request: { body: jsonBody(ProofRequest) },
      responses: { 200: json(AccessToken, "Access token"), ...errors(401, 403, 422, 429, 503) },
    }),
    async (c) => {
      const proof = c.req.valid("json");
      const db = database(c.env);
      await verifyProof(db, "token", registryOrigin(c), proof);
      const node = await nodeByKey(db, proof.public_key);
      if (!node || node.deregisteredAt !== null) {
        throw unauthorized("node_not_registered", "no node is registered with this key");
      }
      refuseSuspendedNode(node);
      return c.json(await issueAccessToken(c.env, node.id, node.tokenEpoch), 200);
    },
  );
