/** The relay (docs/relay.md): tunnel frames between nodes with no direct path, through the registry. */
import { RELAY_CLOSE, RELAY_MAX_MESSAGE_BYTES } from "@pilot/protocol";
import { requireNode } from "../auth/node-auth.ts";
import { requireWebSocket } from "../errors.ts";
import { nodeHub } from "../nodes/hub.ts";
import { apiRoute, bearer, webSocket } from "../openapi.ts";
import { createRouter } from "../router.ts";

export const relayRoutes = createRouter().openapi(
  apiRoute({
    method: "get",
    path: "/relay",
    operationId: "openRelay",
    tags: ["relay"],
    summary: "The node's relay connection (WebSocket): sealed tunnel frames to and from other nodes",
    description: [
      "Send `Upgrade: websocket` with the node's access token. Binary messages only, each one or more frames `[u32 node][u16 length][frame]`, big-endian, at most",
      `${RELAY_MAX_MESSAGE_BYTES} bytes a message. Sent: \`node\` is the destination. Received: \`node\` is the sender, as the registry authenticated it.`,
      "Only tunnel frames (starting PILS or PILA) are relayed, and only to a node the sender may resolve; nothing ever comes back about a frame, whatever became of it.",
      "Frames over the relay's limits are dropped. Text `ping` gets `pong`.",
      `Closes with ${RELAY_CLOSE.replaced} when a newer relay connection of the node replaces it, ${RELAY_CLOSE.deregistered} when the node deregisters, and ${RELAY_CLOSE.malformed} after a message that is not a relay message.`,
    ].join(" "),
    security: bearer,
    middleware: requireNode,
    parameters: webSocket.parameters,
    responses: webSocket.switching,
  }),
  async (c) => {
    requireWebSocket(c.req.header("upgrade"));
    const { id, tokenEpoch } = c.var.node;
    // A fresh request, so only the Worker names the node, and the epoch its token proved, to the object.
    return nodeHub(c.env, id).fetch(
      new Request(c.req.url, { headers: { upgrade: "websocket", "x-pilot-node": String(id), "x-pilot-relay": String(tokenEpoch) } }),
    );
  },
);
