/**
 * Building blocks that keep the API's zod schemas and the JSON Schema the registry publishes from
 * them saying the same thing. Whatever zod checks with a refinement, which JSON Schema cannot see,
 * is either written as a regular expression (exact numeric ranges, canonical base64) or declared
 * in the document next to the refinement (`not`, `uniqueItems`), so a client that satisfies the
 * published schema is never refused with 400. The few rules JSON Schema cannot state at all are
 * refused with 422 (`beyondSchema`), and worker/openapi.ts lists them.
 */
import { z } from "zod";
import type { ErrorCode } from "./errors.ts";

const digitClass = (from: number, to: number) => (from === to ? String(from) : `[${from}-${to}]`);
const anyDigits = (n: number) => (n === 0 ? "" : n === 1 ? "[0-9]" : `[0-9]{${n}}`);

/** Numbers from `lo` to `hi` written with the same number of digits (leading zeros allowed), as a regex source. */
function sameLength(lo: string, hi: string): string {
  if (lo.length === 0 || lo === hi) return lo;
  if (lo[0] === hi[0]) return lo[0] + sameLength(lo.slice(1), hi.slice(1));
  const rest = lo.length - 1;
  let first = Number(lo[0]);
  let last = Number(hi[0]);
  const parts: string[] = [];
  if (lo.slice(1) !== "0".repeat(rest)) {
    parts.push(lo[0] + sameLength(lo.slice(1), "9".repeat(rest)));
    first++;
  }
  const upper = hi.slice(1) !== "9".repeat(rest) ? hi[0] + sameLength("0".repeat(rest), hi.slice(1)) : undefined;
  if (upper !== undefined) last--;
  if (first <= last) parts.push(digitClass(first, last) + anyDigits(rest));
  if (upper !== undefined) parts.push(upper);
  return parts.length === 1 ? parts[0]! : `(?:${parts.join("|")})`;
}

/**
 * A regular expression source for the decimal numbers from `min` to `max`, without leading zeros:
 * what a path or query parameter that carries an ID must match, so that the published pattern
 * admits exactly the IDs the registry takes (no `99999` for a 16-bit network).
 */
export function decimalRangeSource(min: number, max: number): string {
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || min > max) throw new RangeError(`no decimal range ${min}..${max}`);
  const alternatives: string[] = [];
  for (let digits = String(min).length; digits <= String(max).length; digits++) {
    const lo = digits === String(min).length ? String(min) : `1${"0".repeat(digits - 1)}`;
    const hi = digits === String(max).length ? String(max) : "9".repeat(digits);
    alternatives.push(sameLength(lo, hi));
  }
  return alternatives.length === 1 ? alternatives[0]! : `(?:${alternatives.join("|")})`;
}

/** `decimalRangeSource` anchored: the whole string is one such number. */
export const decimalRange = (min: number, max: number) => new RegExp(`^${decimalRangeSource(min, max)}$`);

/**
 * A regular expression for exactly `length` bytes in canonical padded standard base64: the last
 * character before the padding may only be one whose unused low bits are zero, so every byte
 * string has exactly one accepted spelling.
 */
export function base64Bytes(length: number): RegExp {
  const char = "[A-Za-z0-9+/]";
  const groups = Math.floor(length / 3);
  const whole = groups === 0 ? "" : `${char}{${groups * 4}}`;
  const tail = [
    "",
    // One byte left: 8 bits in two characters, the second using only its top 2 bits.
    `${char}[AQgw]==`,
    // Two bytes left: 16 bits in three characters, the third using only its top 4 bits.
    `${char}{2}[AEIMQUYcgkosw048]=`,
  ][length % 3];
  return new RegExp(`^${whole}${tail}$`);
}

/**
 * Text of `min` to `max` characters as JSON Schema counts them: code points. zod's `min` and `max`
 * count UTF-16 units, which differ for characters beyond the BMP (an emoji is one code point and
 * two units), so on such text the document and the check would disagree.
 */
export function textOfLength(min: number, max: number, message = min > 0 ? `must be ${min} to ${max} characters` : `must be at most ${max} characters`) {
  return z
    .string()
    .refine((s) => {
      const length = [...s].length;
      return length >= min && length <= max;
    }, message)
    .meta({ ...(min > 0 ? { minLength: min } : {}), maxLength: max });
}

/** A string the published schema forbids with `not`: refused with 400, like every rule the schema states. */
export interface Exclusion {
  pattern?: RegExp;
  values?: readonly string[];
  message: string;
  /** An error code more telling than `invalid_request` (the router answers with it). */
  code?: ErrorCode;
}

/**
 * Adds `exclusions` to a string schema: each a refinement, and all of them together one `not` in
 * the published schema. Each alternative names its type, so that a nullable use of the schema
 * still admits null.
 */
export function excluding<T extends z.ZodType<string>>(schema: T, ...exclusions: Exclusion[]): T {
  let refined = schema;
  for (const e of exclusions) {
    const hit = (s: string) => (e.pattern?.test(s) ?? false) || (e.values?.includes(s) ?? false);
    refined = refined.refine((s) => !hit(s), { message: e.message, ...(e.code ? { params: { code: e.code } } : {}) }) as T;
  }
  const alternatives = exclusions.map((e) => (e.pattern ? { type: "string", pattern: e.pattern.source } : { type: "string", enum: e.values }));
  return refined.meta({ not: alternatives.length === 1 ? alternatives[0] : { anyOf: alternatives } }) as T;
}

/** Items that must not repeat: a refinement, and `uniqueItems` in the published schema. */
export const uniqueItems = <T extends z.ZodArray>(schema: T, message = "must not repeat"): T =>
  schema.refine((items) => new Set(items).size === items.length, message).meta({ uniqueItems: true }) as unknown as T;

/** The status of a rule the published schema cannot state: a well-formed request the registry still refuses. */
export const BEYOND_SCHEMA_STATUS = 422;

/**
 * The issue parameters of a rule JSON Schema cannot state (see worker/openapi.ts's list): the
 * router answers 422 with `code` when it is the only thing wrong with a request.
 */
export const beyondSchema = (code: ErrorCode) => ({ params: { code, status: BEYOND_SCHEMA_STATUS } });
