/**
 * The deployed module: the Worker's HTTP and cron handlers (worker/) and its Durable Object classes
 * (durable-objects/), which the runtime finds among this module's exports. It is the one place
 * that names both; the objects import the Worker's aggregate modules, and the Worker reaches the
 * objects only through their bindings in `Env`.
 */
import { sweepExpiredChallenges } from "./worker/auth/proof.ts";
import { app } from "./worker/app.ts";
import { sweepOldAudit } from "./worker/audit-retention.ts";
import { database } from "./worker/db/client.ts";
import { sweepExpiredRequests } from "./worker/trust/handshakes.ts";
import { sweepExpiredTrust } from "./worker/trust/pairs.ts";

export { NetworkHub } from "./durable-objects/network-hub.ts";
export { NodeHub } from "./durable-objects/node-hub.ts";

export default {
  fetch: app.fetch,
  async scheduled(_controller, env) {
    const db = database(env);
    await sweepExpiredChallenges(db);
    await sweepExpiredRequests(db);
    // Trust whose end an alarm missed: gates refused it from its end; this tells its nodes.
    await sweepExpiredTrust(env, db, Date.now());
    await sweepOldAudit(env, db, Date.now());
  },
} satisfies ExportedHandler<Env>;
