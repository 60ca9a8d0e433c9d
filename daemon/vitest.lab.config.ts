import { defineProject } from "vitest/config";

// The NAT lab (test/nat-lab/): real namespaces, routers and daemons. Each file builds a lab of its
// own, and labs do not meet (docs/nat-lab.md), so its files run two at a time beside the other
// projects' files like theirs: with one at a time vitest would hold them back until every other
// file had finished, and run them alone.
export default defineProject({
  test: {
    name: "lab",
    environment: "node",
    include: ["test/nat-lab/**/*.test.ts"],
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
