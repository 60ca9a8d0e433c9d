import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "protocol",
    environment: "node",
    include: ["test/**/*.test.ts"],
    // As in daemon/vitest.config.ts: two files at a time like the root's other projects, in their group.
    maxWorkers: 2,
  },
});
