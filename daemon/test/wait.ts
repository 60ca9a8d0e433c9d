/**
 * Waiting in tests for what is expected, not for a time: a positive check polls its condition
 * until it holds, and a timeout here is only a guard against a hang, never a performance target.
 */
import type { Daemon } from "./e2e/cluster.ts";

/** How long a wait may take before the test gives up on it: long enough for a busy machine. */
export const HANG_GUARD_MS = 20_000;

/** The timeout of a test that starts processes and waits on them: a hang guard, for a busy machine too. */
export const SLOW_TEST_MS = 120_000;

/** Resolves once `condition` holds (polled every `intervalMs`); rejects, naming `what`, after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = HANG_GUARD_MS, intervalMs = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `p`, or a rejection naming `what` if it has not settled after `timeoutMs`. */
export async function within<T>(what: string, p: Promise<T>, timeoutMs = HANG_GUARD_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A pause for a negative check that has no later event to wait for: it only says that at least
 * `ms` have passed, so anything due by then (a timer in this process, say) has had its turn.
 */
export const atLeast = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `d` lists `peer` among the nodes it trusts, as `pilotctl trust` shows. */
export async function trusts(d: Daemon, peer: Daemon): Promise<boolean> {
  return (await d.call("trust")).trusted.some((t) => t.node_id === peer.nodeId);
}

/**
 * `from` asks `to` for trust and `to` approves; resolves once `from` lists `to` as trusted, and so
 * lets `to`'s packets through too (the approval reaches it over its push channel, or the registry
 * read that `pilotctl trust` makes).
 */
export async function befriend(from: Daemon, to: Daemon, justification: string): Promise<void> {
  await from.run("handshake", String(to.nodeId), justification);
  await to.run("approve", String(from.nodeId));
  await waitFor(() => trusts(from, to), `node ${from.nodeId} to hear that ${to.nodeId} approved it`);
}
