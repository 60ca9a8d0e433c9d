/**
 * The published API description, held to the server: for every operation, inputs generated from
 * /v1/openapi.json alone (as a client reading it would write them) are never refused with 400 and
 * never fail with 500, every answer has a status the operation declares and a body its declared
 * schema admits; and an input broken in one place the schema forbids is refused with 400.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addMember, asPerson, call, createNetwork, enrolledNode, freshIp, type Person, type Registered, signUp } from "./helpers.ts";
import { arbitraryOf, type JsonSchema, SchemaSet } from "./json-schema-arbitrary.ts";

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema: JsonSchema;
}
interface Operation {
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: { "application/json": { schema: JsonSchema } } };
  responses: Record<string, { content?: { "application/json": { schema: JsonSchema } } }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

const doc = (await (await call("/v1/openapi.json")).json()) as Document;
const schemas = new SchemaSet(doc.components.schemas);

/**
 * WebSocket routes answer an upgrade, which these plain requests cannot make (their upgrades are
 * tested in their own files): a request the schema admits gets the declared 400 that asks for one.
 */
const isWebSocket = (op: Operation) => "101" in op.responses;

/**
 * Operations that end what the shared fixture stands on (the node, the session, the account's
 * standing) run with a fixture of their own for every input.
 */
const CONSUMES_FIXTURE = new Set(["delete /v1/nodes/self", "delete /v1/session", "post /v1/nodes/self/key", "delete /v1/networks/{id}"]);

const VALID_RUNS = 30;
const MUTATED_RUNS = 25;

type Auth = "account" | "node" | "operator" | "none";

function authOf(op: Operation): Auth {
  const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
  if (schemes.includes("session") || schemes.includes("apiToken")) return "account";
  if (schemes.includes("bearer")) return "node";
  if (schemes.includes("operator")) return "operator";
  return "none";
}

/** A person who owns a token-gated network, and a node of theirs that is a member of it. */
interface Fixture {
  person: Person;
  networkId: number;
  node: Registered;
}

async function makeFixture(): Promise<Fixture> {
  const person = await signUp();
  const net = await createNetwork(person, { join_rule: "token" });
  const node = await enrolledNode(person);
  const added = await addMember(person, net.network_id, node.nodeId);
  if (added.status !== 200) throw new Error(`fixture: add member answered ${added.status}`);
  return { person, networkId: net.network_id, node };
}

/** Values that name the fixture's own things, offered beside generated ones so that inputs reach real resources too. */
function fixtureValue(f: Fixture, path: string, name: string): string | undefined {
  if (path.startsWith("/v1/admin/")) return undefined;
  if (name === "id" && (path.startsWith("/v1/networks/") || path.startsWith("/v1/invitations/"))) return String(f.networkId);
  if (name === "node_id") return String(f.node.nodeId);
  if (name === "target" || name === "name") return String(f.node.nodeId);
  return undefined;
}

interface Input {
  path: Record<string, string>;
  query: Record<string, string>;
  body?: unknown;
}

function inputArbitrary(f: Fixture, path: string, op: Operation): fc.Arbitrary<Input> {
  const parameters = op.parameters ?? [];
  const pick = (where: "path" | "query") =>
    Object.fromEntries(
      parameters
        .filter((p) => p.in === where)
        .map((p) => {
          const generated = arbitraryOf(schemas, schemas.local(p.schema)) as fc.Arbitrary<string>;
          const own = fixtureValue(f, path, p.name);
          return [p.name, own === undefined ? generated : fc.oneof(generated, fc.constant(own))];
        }),
    );
  const requiredQuery = parameters.filter((p) => p.in === "query" && p.required).map((p) => p.name);
  const bodySchema = op.requestBody?.content["application/json"].schema;
  const body = bodySchema ? arbitraryOf(schemas, schemas.local(bodySchema)) : fc.constant(undefined);
  return fc.record({
    path: fc.record(pick("path")),
    query: fc.record(pick("query"), { requiredKeys: requiredQuery }),
    body: op.requestBody?.required === false ? fc.option(body, { nil: undefined }) : body,
  }) as fc.Arbitrary<Input>;
}

async function send(f: Fixture, method: string, template: string, auth: Auth, input: Input): Promise<Response> {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(input.path[name]!));
  const query = new URLSearchParams(input.query).toString();
  const url = query ? `${path}?${query}` : path;
  const opts = { method: method.toUpperCase(), ...(input.body === undefined ? {} : { body: input.body }), ip: freshIp() };
  if (auth === "account") return asPerson(f.person, url, opts);
  if (auth === "node") return call(url, { ...opts, token: f.node.token });
  if (auth === "operator") return call(url, { ...opts, headers: { authorization: `Bearer ${(env as unknown as { OPERATOR_TOKEN: string }).OPERATOR_TOKEN}` } });
  return call(url, opts);
}

/** What an answer must be: a declared status, and a body the status's declared schema admits. */
async function checkAnswer(key: string, op: Operation, res: Response, undeclared: Set<string>): Promise<void> {
  expect(res.status, `${key}: a server error`).toBeLessThan(500);
  const declared = op.responses[String(res.status)];
  const text = await res.text();
  if (!declared) {
    undeclared.add(`${key} ${res.status}`);
    return;
  }
  const schema = declared.content?.["application/json"].schema;
  if (!schema) return;
  const result = schemas.validator(schemas.local(schema)).validate(JSON.parse(text));
  expect(result.valid, `${key} ${res.status}: the body does not match the declared schema: ${text.slice(0, 300)} ${JSON.stringify(result.errors.slice(0, 3))}`).toBe(true);
}

/** Inputs broken in exactly one place: each kept only if the published schema refuses it. */
function mutations(op: Operation, input: Input): Input[] {
  const out: Input[] = [];
  for (const p of op.parameters ?? []) {
    if (p.in !== "path" && p.in !== "query") continue;
    for (const bad of ["0", "-1", "x!", "99999999999", "", " 1"]) {
      const part = { ...input[p.in], [p.name]: bad };
      // An empty path segment is another route; an empty query value is the parameter left out.
      if (bad === "" && p.in === "path") continue;
      if (!schemas.valid(schemas.local(p.schema), bad)) out.push({ ...input, [p.in]: part });
    }
  }
  const bodySchema = op.requestBody?.content["application/json"].schema;
  if (bodySchema) {
    const s = schemas.resolve(schemas.local(bodySchema));
    const body = input.body;
    const candidates: unknown[] = [[], "text", 7, null];
    if (body && typeof body === "object" && !Array.isArray(body)) {
      const record = body as Record<string, unknown>;
      candidates.push({ ...record, zz_unknown: true });
      for (const key of Object.keys(record)) {
        const { [key]: _, ...without } = record;
        candidates.push(without);
        const value = record[key];
        candidates.push({ ...record, [key]: typeof value === "string" ? 12_345 : "wrong type" });
        if (typeof value === "string") candidates.push({ ...record, [key]: `${value}!` }, { ...record, [key]: "x".repeat(1000) });
        if (typeof value === "number") candidates.push({ ...record, [key]: value + 0.5 }, { ...record, [key]: -value - 1 }, { ...record, [key]: 2 ** 40 });
        if (Array.isArray(value) && value.length > 0) candidates.push({ ...record, [key]: [...value, value[0]] });
      }
    }
    for (const c of candidates) if (!schemas.valid(s, c)) out.push({ ...input, body: c });
  }
  return out;
}

const operations = Object.entries(doc.paths)
  .flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ key: `${method} ${path}`, method, path, op })))
  // The operator's changes (plans, suspensions) touch what everything else stands on: last, and
  // with the operator's credential, which no suspension touches.
  .sort((a, b) => Number(a.path.startsWith("/v1/admin/")) - Number(b.path.startsWith("/v1/admin/")));

describe("the published API description, held to the server", () => {
  const undeclared = new Set<string>();
  let shared: Fixture | undefined;

  it.each(operations)("$key", { timeout: 300_000 }, async ({ key, method, path, op }) => {
    const auth = authOf(op);
    const own = CONSUMES_FIXTURE.has(key);
    const base = own ? await makeFixture() : (shared ??= await makeFixture());
    // Path, query and body are what the test generates and breaks; a WebSocket route's Upgrade
    // header is left out on purpose (its plain request must get the declared 400), and breaking
    // nothing would leave the broken inputs' filter below searching forever.
    const hasInputs = Boolean(op.parameters?.some((p) => p.in === "path" || p.in === "query") || op.requestBody);

    // Inputs the schema admits: never 400, never 500, a declared answer.
    await fc.assert(
      fc.asyncProperty(inputArbitrary(base, path, op), async (input) => {
        const f = own ? await makeFixture() : base;
        const res = await send(f, method, path, auth, input);
        if (isWebSocket(op)) {
          expect((await res.clone().json()) as unknown, key).toMatchObject({ error: { code: "invalid_request", message: expect.stringMatching(/Upgrade: websocket/) } });
        } else if (res.status === 400) {
          expect.fail(`${key} refused an input its schema admits: ${JSON.stringify(input)} → ${await res.text()}`);
        }
        await checkAnswer(key, op, res, undeclared);
      }),
      { numRuns: hasInputs ? VALID_RUNS : 2, endOnFailure: true },
    );
    if (!hasInputs) return;

    // Inputs broken in one place the schema forbids: 400, with the declared error body.
    const f = own ? await makeFixture() : base;
    const broken = inputArbitrary(f, path, op)
      .map((input) => mutations(op, input))
      .filter((bad) => bad.length > 0)
      .chain((bad) => fc.constantFrom(...bad));
    await fc.assert(
      fc.asyncProperty(broken, async (input) => {
        const res = await send(f, method, path, auth, input);
        if (res.status !== 400) expect.fail(`${key} answered ${res.status}, not 400, to an input its schema refuses: ${JSON.stringify(input)} → ${await res.text()}`);
        await checkAnswer(key, op, res, undeclared);
      }),
      { numRuns: MUTATED_RUNS, endOnFailure: true },
    );
  });

  // Collected over every operation, so one run names every undeclared status at once.
  it("every status answered is declared by its operation", () => {
    expect([...undeclared].sort(), "operation and status answered but not declared in its responses").toEqual([]);
  });
});
