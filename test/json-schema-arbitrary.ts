/**
 * fast-check arbitraries made from JSON Schema: the subset the registry's OpenAPI document uses
 * (type, enum, const, pattern, lengths, ranges, items and prefixItems, uniqueItems, properties with
 * required and additionalProperties: false, anyOf and oneOf, not, minProperties, $ref into the
 * document's components). Values come from the published document alone, as a client's would, so
 * a value it makes is one the document promises the registry takes.
 */
import { Validator } from "@cfworker/json-schema";
import fc from "fast-check";

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  minProperties?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  not?: JsonSchema;
  default?: unknown;
  [keyword: string]: unknown;
}

/**
 * A schema as this module reads it: references rewritten from `#/components/schemas/X` to
 * `#/$defs/X` so a validator can follow them, and `format` dropped. In JSON Schema 2020-12 a format
 * only annotates; the document states what it asserts as a `pattern` beside it, and the validator
 * would otherwise hold values to its own idea of an email address.
 */
const localized = (schema: unknown): unknown =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"#/$defs/'), function (key, value: unknown) {
    return key === "format" && typeof value === "string" && !Array.isArray(this) && typeof this === "object" && "type" in this ? undefined : value;
  });

/** A document's schemas, made ready for the arbitraries and the validator. */
export class SchemaSet {
  readonly defs: Record<string, JsonSchema>;

  constructor(components: Record<string, unknown>) {
    this.defs = localized(components) as Record<string, JsonSchema>;
  }

  /** The same for a schema found elsewhere in the document (a parameter's, a response's). */
  local(schema: unknown): JsonSchema {
    return localized(schema) as JsonSchema;
  }

  resolve(schema: JsonSchema): JsonSchema {
    return schema.$ref ? this.resolve(this.defs[schema.$ref.slice("#/$defs/".length)]!) : schema;
  }

  validator(schema: JsonSchema): Validator {
    return new Validator({ ...schema, $defs: this.defs } as never, "2020-12", false);
  }

  valid(schema: JsonSchema, value: unknown): boolean {
    return this.validator(schema).validate(value).valid;
  }
}

/** How many items an array arbitrary makes at most, whatever the schema allows: enough to find repeats, few enough to stay quick. */
const MAX_GENERATED_ITEMS = 4;

const typesOf = (s: JsonSchema) => (s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type]);

/** The arbitrary of one schema; every value it makes satisfies the schema (values failing a `not` are filtered out). */
export function arbitraryOf(set: SchemaSet, schema: JsonSchema): fc.Arbitrary<unknown> {
  const s = set.resolve(schema);
  const arbitrary = shapeOf(set, s);
  return s.not ? arbitrary.filter((v) => !set.valid(s.not!, v)) : arbitrary;
}

function shapeOf(set: SchemaSet, s: JsonSchema): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const choices = s.anyOf ?? s.oneOf;
  if (choices) {
    // Keywords beside the choice apply to every branch (a string's maxLength beside patterns).
    const { anyOf: _a, oneOf: _o, not: _n, ...beside } = s;
    const branches = choices.map((c) => arbitraryOf(set, { ...beside, ...set.resolve(c) }));
    const chosen = fc.oneof(...branches);
    // oneOf: exactly one branch, which the branches' shapes (one per discriminator value) already give.
    return s.oneOf ? chosen.filter((v) => s.oneOf!.filter((c) => set.valid(c, v)).length === 1) : chosen;
  }
  const types = typesOf(s);
  if (types.length > 1) return fc.oneof(...types.map((type) => shapeOf(set, { ...s, type })));
  switch (types[0]) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
      return fc.integer({ min: s.minimum ?? -(2 ** 31), max: s.maximum ?? 2 ** 31 });
    case "number":
      return fc.double({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true, noDefaultInfinity: true });
    case "string":
      return stringOf(s);
    case "array":
      return arrayOf(set, s);
    case "object":
      return objectOf(set, s);
    default:
      throw new Error(`no arbitrary for schema ${JSON.stringify(s).slice(0, 200)}`);
  }
}

function stringOf(s: JsonSchema): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? Infinity;
  // JSON Schema counts lengths in code points.
  const fits = (v: string) => [...v].length >= min && [...v].length <= max;
  if (s.pattern !== undefined) return fc.stringMatching(new RegExp(s.pattern, "u")).filter(fits);
  return fc.string({ minLength: min, maxLength: Math.min(max, min + 40) });
}

function arrayOf(set: SchemaSet, s: JsonSchema): fc.Arbitrary<unknown[]> {
  if (s.prefixItems) return fc.tuple(...s.prefixItems.map((p) => arbitraryOf(set, p)));
  const minLength = s.minItems ?? 0;
  const maxLength = Math.min(s.maxItems ?? MAX_GENERATED_ITEMS, minLength + MAX_GENERATED_ITEMS);
  const item = s.items ? arbitraryOf(set, s.items) : fc.jsonValue();
  return s.uniqueItems ? fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) }) : fc.array(item, { minLength, maxLength });
}

function objectOf(set: SchemaSet, s: JsonSchema): fc.Arbitrary<Record<string, unknown>> {
  const properties = s.properties ?? {};
  const model = Object.fromEntries(Object.entries(properties).map(([k, p]) => [k, arbitraryOf(set, p)]));
  const record = fc.record(model, { requiredKeys: s.required ?? [] }) as fc.Arbitrary<Record<string, unknown>>;
  return s.minProperties ? record.filter((o) => Object.keys(o).length >= s.minProperties!) : record;
}
