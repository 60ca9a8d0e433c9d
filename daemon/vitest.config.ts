import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "daemon",
    environment: "node",
    include: ["test/**/*.test.ts"],
    // The NAT lab is a project of its own (vitest.lab.config.ts).
    exclude: ["test/nat-lab/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
