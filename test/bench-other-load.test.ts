import { describe, expect, it } from "vitest";
import { largestOtherLoad, OTHER_LOAD_LIMIT_PERCENT, otherLoadCell, otherLoadDisturbs, otherLoadWarning } from "../bench/other-load.js";

describe("bench/other-load.ts", () => {
  it("marks a figure above the limit with the figure and '!', and leaves the rest plain", () => {
    expect(OTHER_LOAD_LIMIT_PERCENT).toBe(20);
    expect(otherLoadCell(35.4)).toBe("35% !");
    expect(otherLoadCell(20)).toBe("20%");
    expect(otherLoadCell(null)).toBe("?");
    expect(otherLoadDisturbs(20.1)).toBe(true);
    expect(otherLoadDisturbs(undefined)).toBe(false);
  });

  it("warns once for every disturbed row of every table, naming them while there are few", () => {
    expect(otherLoadWarning([{ label: "book-1/memory", percent: 3 }])).toBeUndefined();
    const warning = otherLoadWarning([
      { label: "book-1/memory", percent: 3 },
      { label: "watchers 100/sqlite", percent: 41 },
      { label: "burst/memory", percent: 25 },
    ]);
    expect(warning).toBe(
      "WARNING: 2 of 3 rows (marked ! in the tables) were measured while processes outside the benchmark used more than 20% of a core (up to 41%); " +
        "their figures are disturbed: watchers 100/sqlite 41%, burst/memory 25%",
    );
    const many = otherLoadWarning(Array.from({ length: 8 }, (_, index) => ({ label: `row ${index}`, percent: 30 + index })));
    expect(many).toMatch(/^WARNING: 8 of 8 rows .* \(up to 37%\); their figures are disturbed$/);
  });

  it("sums up rounds by the largest known figure", () => {
    expect(largestOtherLoad([5, null, 31, 12])).toBe(31);
    expect(largestOtherLoad([null, undefined])).toBeNull();
  });
});
