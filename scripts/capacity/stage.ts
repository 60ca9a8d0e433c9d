/**
 * What every capacity measure starts from: a local registry in workerd (the Worker from
 * wrangler.toml, fresh D1 and Durable Object storage), its D1 reachable for seeding and for the
 * plan limits the measures lift, and an owner with a network.
 */
import { execFileSync } from "node:child_process";
import type { Network } from "@pilot/protocol";
import { Operator, startLocalRegistry, type LocalRegistry } from "../../daemon/test/local-registry.ts";
import { SimAgent } from "./agent.ts";

/** The slice of D1's binding the measures use. */
export interface D1 {
  prepare(query: string): D1Statement;
  batch(statements: D1Statement[]): Promise<{ meta: { rows_read: number; rows_written: number; duration: number } }[]>;
}
export interface D1Statement {
  bind(...values: unknown[]): D1Statement;
  run(): Promise<{ meta: { rows_read: number; rows_written: number; duration: number } }>;
  all<T>(): Promise<{ results: T[]; meta: { rows_read: number; rows_written: number; duration: number } }>;
  first<T>(): Promise<T | null>;
}

export interface Stage {
  registry: LocalRegistry;
  /** The Worker's own workerd, without wrangler's development proxy in front (runtimeUrl). */
  runtime: string;
  db: D1;
  owner: Operator;
  network: Network;
}

export async function startStage(): Promise<Stage> {
  const registry = await startLocalRegistry();
  const db = ((await registry.harness.getWorker().getEnv()) as { DB: D1 }).DB;
  const owner = await Operator.signUp(registry.url);
  // The measures need networks far larger than any plan sells (an operator's change, in SQL).
  await db.prepare("UPDATE plans SET max_members = 2000000, max_networks = 65535 WHERE id = 'pro'").run();
  await db.prepare("UPDATE accounts SET plan = 'pro'").run();
  const network = await owner.createNetwork();
  return { registry, runtime: runtimeUrl(registry.url), db, owner, network };
}

/**
 * The address of the workerd process that runs the Worker, behind the development proxy that
 * wrangler puts in front of it. The proxy holds about four file descriptors per WebSocket and the
 * Worker's process about two; this container's hard limit of 20,000 descriptors per process
 * cannot be raised, so measures holding thousands of sockets connect to the Worker directly, as
 * clients in production reach it with no such proxy.
 */
function runtimeUrl(proxy: string): string {
  const children = new Set(execFileSync("pgrep", ["-P", String(process.pid)], { encoding: "utf8" }).trim().split(/\s+/));
  const listening = execFileSync("ss", ["-Htlnp"], { encoding: "utf8" });
  for (const [, port, pid] of listening.matchAll(/127\.0\.0\.1:(\d+)\s.*?"workerd",pid=(\d+),/g)) {
    if (children.has(pid!) && port !== new URL(proxy).port) return `http://127.0.0.1:${port}`;
  }
  throw new Error("found no workerd of this process listening beside wrangler's proxy");
}

/** Runs `task` for each item, `concurrency` at a time; resolves with the results in order. */
export async function inPool<T, R>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i]!, i);
      }
    }),
  );
  return results;
}

/** Registers `count` simulated agents, each with its own key and signed proof. */
export const registerAgents = (url: string, count: number) => inPool(Array.from({ length: count }), 16, () => SimAgent.register(url));
