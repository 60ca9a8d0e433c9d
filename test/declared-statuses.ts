/**
 * Holds every answer the tests get through `call` to the API description: a status a described
 * route gives must be one its operation declares, so the document cannot fall behind the handlers
 * (clients generated from it and fuzzers pointed at it trust that list). 500 is left to the tests
 * themselves: it is a failure, never part of a route's contract.
 */
import { exports } from "cloudflare:workers";

type Operation = { method: string; template: RegExp; literal: number; statuses: Set<string> };

let operations: Promise<Operation[]> | undefined;

async function describedOperations(origin: string): Promise<Operation[]> {
  const res = await exports.default.fetch(new Request(`${origin}/v1/openapi.json`));
  const doc = (await res.json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      template: new RegExp(`^${path.replace(/\{\w+\}/g, "[^/]+")}$`),
      // The most literal template wins, as /v1/nodes/self does over a parameter in its place.
      literal: path.replace(/\{\w+\}/g, "").length,
      statuses: new Set(Object.keys(op.responses)),
    })),
  );
}

/** Throws when `res` answered a described operation with a status the operation does not declare. */
export async function checkDeclared(request: Request, res: Response): Promise<void> {
  const url = new URL(request.url);
  if (res.status === 500 || !url.pathname.startsWith("/v1/")) return;
  operations ??= describedOperations(url.origin);
  const matches = (await operations).filter((o) => o.method === request.method && o.template.test(url.pathname));
  const operation = matches.sort((a, b) => b.literal - a.literal)[0];
  // A method or path the document does not describe is answered route_not_found, checked elsewhere.
  if (operation && !operation.statuses.has(String(res.status))) {
    throw new Error(`${request.method} ${url.pathname} answered ${res.status}, which /v1/openapi.json does not declare for it (it declares ${[...operation.statuses].join(", ")})`);
  }
}
