/** Times in API replies: RFC 3339 in UTC, from the Unix milliseconds the database stores. */
export const iso = (ms: number) => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));
