/**
 * Every failure the API reports is an ApiError: an HTTP status, a stable code from the shared
 * protocol and a message that tells the caller what to do. `app.onError` renders it; anything
 * else that escapes a handler is a bug and becomes a 500 without internal detail.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody, ErrorCode } from "pilot-daemon/protocol";

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

export const unauthorized = (code: ErrorCode, message: string) =>
  new ApiError(401, code, message, { "WWW-Authenticate": 'Bearer realm="pilot", error="invalid_token"' });
