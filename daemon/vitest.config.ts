import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "daemon",
    environment: "node",
    include: ["test/**/*.test.ts"],
    // The NAT lab is a project of its own (vitest.lab.config.ts).
    exclude: ["test/nat-lab/**"],
    // A project in its own config file does not inherit the root's maxWorkers: without this it gets
    // vitest's default (one fewer than the cores, so one on a 2-core machine) and vitest then runs
    // its files in a group of their own, one at a time, after everyone else's.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
