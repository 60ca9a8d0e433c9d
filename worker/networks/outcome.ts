/**
 * Results that cross the Durable Object RPC boundary. Thrown errors lose their class and fields
 * on the way, so the network's object returns failures as values and the Worker raises them.
 */
import type { ErrorCode } from "@pilot/protocol";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ApiError } from "../errors.ts";

export type Failure = { ok: false; status: ContentfulStatusCode; code: ErrorCode; message: string };
export type Outcome<T> = { ok: true; value: T } | Failure;

export const success = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const failure = (status: ContentfulStatusCode, code: ErrorCode, message: string): Failure => ({ ok: false, status, code, message });

/** The ApiError a failure stands for. */
export const toError = (failure: Failure) => new ApiError(failure.status, failure.code, failure.message);

export function unwrap<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw toError(outcome);
  return outcome.value;
}

export const networkNotFound = () =>
  failure(404, "network_not_found", "no such network, or it is not yours to see");
