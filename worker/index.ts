import { sweepExpiredChallenges } from "./auth/proof.ts";
import { app } from "./app.ts";
import { database } from "./db/client.ts";

export { NetworkHub } from "../durable-objects/network-hub.ts";
export { NodeHub } from "../durable-objects/node-hub.ts";

export default {
  fetch: app.fetch,
  async scheduled(_controller, env) {
    await sweepExpiredChallenges(database(env));
  },
} satisfies ExportedHandler<Env>;
