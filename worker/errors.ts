/**
 * Every failure the API reports is an ApiError: an HTTP status, a stable code from the shared
 * protocol and a message that tells the caller what to do. `app.onError` renders it; anything
 * else that escapes a handler is a bug and becomes a 500 without internal detail.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { parseNodeRef, type ErrorBody, type ErrorCode, type NodeRef } from "@pilot/protocol";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The one answer for "no such node" and for "not allowed to see it": they must not differ. */
export const nodeNotFound = () => new ApiError(404, "not_found", "no such node");

/** Parses how a person or node named a node, or fails with the forms it may take. */
export function parseTarget(text: string): NodeRef {
  const ref = parseNodeRef(text);
  if (!ref) throw new ApiError(400, "invalid_target", "name the node by its node ID (1001), Pilot address (0:0000.0000.03E9) or hostname");
  return ref;
}

export const unauthorized = (code: ErrorCode, message: string) =>
  new ApiError(401, code, message, { "WWW-Authenticate": 'Bearer realm="pilot", error="invalid_token"' });

/** A WebSocket route's first check: the request asks for the upgrade, or the answer says how to. */
export function requireWebSocket(upgrade: string | undefined): void {
  if (upgrade?.toLowerCase() !== "websocket") throw new ApiError(400, "invalid_request", "this route is a WebSocket: send Upgrade: websocket");
}
