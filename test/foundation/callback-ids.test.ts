import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeCallbackId, encodeCallbackId } from "../../src/native/callback-ids";

const uuid = fc.uuid();

describe("stateless tool call ids", () => {
  it("round-trips exactly and matches the strictest client charset", () => {
    fc.assert(
      fc.property(uuid, uuid, fc.integer({ min: 0, max: 255 }), fc.constantFrom("call", "toolu"), (runId, callbackTaskId, index, prefix) => {
        const id = encodeCallbackId(prefix, { runId, callbackTaskId, index });
        expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
        expect(decodeCallbackId(prefix, id)).toEqual({ runId: runId.toLowerCase(), callbackTaskId: callbackTaskId.toLowerCase(), index });
      }),
    );
  });

  it("rejects forged, truncated, foreign-prefixed and altered ids", () => {
    const id = encodeCallbackId("call", { runId: "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", callbackTaskId: "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", index: 1 });
    expect(decodeCallbackId("toolu", id)).toBeNull();
    expect(decodeCallbackId("call", id.slice(0, -1))).toBeNull();
    expect(decodeCallbackId("call", `${id}A`)).toBeNull();
    expect(decodeCallbackId("call", "call_abc")).toBeNull();
    expect(decodeCallbackId("call", "functions.Bash:0")).toBeNull();
    fc.assert(fc.property(fc.string(), (text) => {
      const decoded = decodeCallbackId("call", text);
      if (decoded) expect(encodeCallbackId("call", decoded)).toBe(text);
    }));
  });
});
