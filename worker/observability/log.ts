/**
 * The registry's log: one JSON object per line, `{level, event, request_id, ...fields}`, read with
 * `wrangler tail` and Workers Logs (docs/operations.md). Fields are flat primitives on purpose: a
 * caller names each value it logs, so no request body, header, token or row is ever dumped whole
 * and no secret reaches the log by accident. `request_id` is the ID of the request that caused the
 * line (worker/observability/request-context.ts), or null for work no request started: alarms, the
 * cron sweep, deliveries on a later turn.
 */

export type LogLevel = "info" | "warn" | "error";

/** What a line may carry: names and IDs, counts, durations, outcomes. Never a secret. */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

export interface Logger {
  readonly requestId: string | null;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  /** An error: its class and message (never the object, whose fields might hold anything) and where it was thrown. */
  error(event: string, fields?: LogFields, cause?: unknown): void;
}

const SINKS: Record<LogLevel, (line: string) => void> = {
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
};

/** The class, message and first stack frames of what was thrown, as fields. */
export function describeError(cause: unknown): LogFields {
  if (!(cause instanceof Error)) return { error: typeof cause === "string" ? cause : String(cause) };
  const frames = cause.stack?.split("\n").slice(1, 4).map((f) => f.trim()).join(" | ") ?? null;
  return { error: cause.name, error_message: cause.message, stack: frames };
}

function write(level: LogLevel, event: string, requestId: string | null, fields: LogFields = {}): void {
  const fixed = { level, event, request_id: requestId };
  // The fixed keys come first in the line, and are written again after the fields so none can overwrite them.
  SINKS[level](JSON.stringify(Object.assign({ ...fixed }, fields, fixed)));
}

export const logger = (requestId: string | null): Logger => ({
  requestId,
  info: (event, fields) => write("info", event, requestId, fields),
  warn: (event, fields) => write("warn", event, requestId, fields),
  error: (event, fields, cause) => write("error", event, requestId, cause === undefined ? fields : { ...fields, ...describeError(cause) }),
});

/** For work no request started (alarms, sweeps, background deliveries). */
export const backgroundLog = logger(null);
