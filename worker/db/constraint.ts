/** Whether a database error (possibly wrapped by drizzle) is the named constraint failing. */
export function violates(error: unknown, constraint: string): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.message.includes("constraint failed") && e.message.includes(constraint)) return true;
  }
  return false;
}
