/**
 * The README's walk-through, as a script runs it: `listen` and `recv` say on stderr when their port
 * is bound, and whatever is sent after that line arrives. Without --json, as people run them.
 */
import { afterAll, beforeAll, describe, it } from "vitest";
import { Cluster } from "./cluster.ts";
import { readmeWalk } from "./readme-walk.ts";

const cluster = new Cluster();
beforeAll(() => cluster.start(), 60_000);
afterAll(() => cluster.stop(), 60_000);

describe("listen and recv in the background", () => {
  it("say when they are bound, and receive what is sent after", async () => {
    const [aName, bName] = [`ready-a-${process.pid}`, `ready-b-${process.pid}`];
    const a = await cluster.daemon("ready-a", "--hostname", aName);
    const b = await cluster.daemon("ready-b", "--hostname", bName);
    await readmeWalk(a, aName, b, bName);
  }, 120_000);
});
