import { defineProject } from "vitest/config";

// The NAT lab (test/nat-lab/): real namespaces, routers and daemons. Its files run one at a time,
// each building its own lab, so they do not fight over the two cores with one another.
export default defineProject({
  test: {
    name: "lab",
    environment: "node",
    include: ["test/nat-lab/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
