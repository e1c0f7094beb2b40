import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SERVER_NODE_OPTIONS } from "../src/server-node-options.js";

describe("SERVER_NODE_OPTIONS", () => {
  it("are passed by `npm start` and by the `booking` command's #! line, in the same order", () => {
    const start = (JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> }).scripts["start"];
    expect(start).toContain(`node ${SERVER_NODE_OPTIONS.join(" ")} dist/bin/booking.js serve`);
    const shebang = readFileSync("bin/booking.ts", "utf8").split("\n")[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${SERVER_NODE_OPTIONS.join(" ")}`);
    expect(readFileSync("dist/bin/booking.js", "utf8").split("\n")[0]).toBe(shebang);
  });

  it("are accepted by this Node, and keep the young generation at 16 MB from the start", () => {
    const probe = spawnSync(
      process.execPath,
      [...SERVER_NODE_OPTIONS, "-e", "console.log(require('node:v8').getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size)"],
      { encoding: "utf8" },
    );
    expect(probe.stderr).toBe("");
    expect(Number(probe.stdout)).toBeGreaterThanOrEqual(16 * 1024 * 1024);
  });
});
