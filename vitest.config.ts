import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Files run one at a time: they start real servers, processes and
    // databases, and the overload test compares latencies measured within one
    // file, which a neighbouring file on the other core distorts.
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
