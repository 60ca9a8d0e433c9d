/**
 * The registry's JSON API as the console calls it: with the session cookie and the session's CSRF
 * token, like any other client. Callers name the reply's type from @pilot/protocol.
 */
import type { ErrorBody } from "@pilot/protocol";

const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";

export async function api<Reply = unknown>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: object): Promise<Reply> {
  const headers: Record<string, string> = { "x-csrf-token": csrf };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const data: unknown = res.status === 204 ? null : await res.json().catch(() => null);
  // Not every failure is the API's own error body (a proxy's page, say): fall back to the status.
  if (!res.ok) throw new Error((data as Partial<ErrorBody> | null)?.error?.message ?? `request failed (${res.status})`);
  return data as Reply;
}
