import { sweepExpiredChallenges } from "./auth/proof.ts";
import { app } from "./app.ts";
import { database } from "./db/client.ts";
import { sweepExpiredRequests } from "./trust/handshakes.ts";

export { NetworkHub } from "../durable-objects/network-hub.ts";
export { NodeHub } from "../durable-objects/node-hub.ts";

export default {
  fetch: app.fetch,
  async scheduled(_controller, env) {
    const db = database(env);
    await sweepExpiredChallenges(db);
    await sweepExpiredRequests(db);
  },
} satisfies ExportedHandler<Env>;
