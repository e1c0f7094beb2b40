import { describe, expect, it } from "vitest";
import { MemoryRequestRecords } from "../src/stores/memory-request-records.js";

describe("MemoryRequestRecords", () => {
  it("gives back the fingerprint and outcome as remembered, whatever characters they hold", () => {
    const records = new MemoryRequestRecords();
    const fingerprint = "create-show:gala:12:Gala: 7:30 pm, row 1:2";
    const outcome = '{"ok":true,"seats":[1,2],"note":"a:b:3"}';
    records.remember("alice\u0000req-1", 1_700_000_000_123, fingerprint, outcome);
    records.remember("alice\u0000req-2", 1_700_000_000_124, "", "");
    expect(records.get("alice\u0000req-1")).toEqual({ fingerprint, outcome });
    expect(records.get("alice\u0000req-2")).toEqual({ fingerprint: "", outcome: "" });
    expect(records.get("bob\u0000req-1")).toBeUndefined();
  });

  it("forgets the records made before the given instant, and only those", () => {
    const records = new MemoryRequestRecords();
    for (let index = 0; index < 5; index++) records.remember(`k${index}`, 1000 + index * 10, `f${index}`, "{}");
    records.forgetBefore(1020);
    expect(records.size).toBe(3);
    expect(records.get("k1")).toBeUndefined();
    expect(records.get("k2")).toEqual({ fingerprint: "f2", outcome: "{}" });
    records.forgetBefore(5000);
    expect(records.size).toBe(0);
  });
});
