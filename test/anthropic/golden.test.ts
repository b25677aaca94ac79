/// <reference types="vite/client" />
/**
 * Golden SSE fixtures: native bytes in, the exact Anthropic bytes out (see golden.ts). Also checks
 * each expected file against the Anthropic wire rules, so a regenerated fixture cannot quietly
 * enshrine a protocol violation.
 */
import { describe, expect, it } from "vitest";
import { projectFixture } from "./golden";
import { parseSse, typedEvents } from "./helpers";

const natives = import.meta.glob<string>("../fixtures/anthropic/*.native.sse", { query: "?raw", import: "default", eager: true });
const expected = import.meta.glob<string>("../fixtures/anthropic/*.anthropic.sse", { query: "?raw", import: "default", eager: true });

const names = Object.keys(natives)
  .map((path) => /([^/]+)\.native\.sse$/.exec(path)?.[1] ?? "")
  .sort();

describe("golden fixtures", () => {
  it("has fixtures", () => {
    expect(names.length).toBeGreaterThanOrEqual(9);
  });

  for (const name of names) {
    it(name, async () => {
      const want = expected[`../fixtures/anthropic/${name}.anthropic.sse`];
      expect(want, `missing ${name}.anthropic.sse (run npx tsx test/anthropic/update-golden.ts)`).toBeDefined();
      const got = await projectFixture(natives[`../fixtures/anthropic/${name}.native.sse`] ?? "");
      expect(got).toBe(want);

      // Wire rules (client-protocols.md §5.3) hold for the expected bytes themselves.
      const events = typedEvents(parseSse(want ?? ""));
      const types = events.map((event) => event.type);
      const last = types.at(-1);
      expect(last === "message_stop" || last === "error").toBe(true);
      expect(types.filter((type) => type === "message_stop" || type === "error")).toHaveLength(1);
      if (types.includes("message_stop")) {
        expect(types[0]).toBe("message_start");
        expect(types.at(-2)).toBe("message_delta");
      }
      let open: number | null = null;
      let next = 0;
      for (const event of events) {
        const index = event["index"] as number | undefined;
        if (event.type === "content_block_start") {
          expect(open).toBeNull();
          expect(index).toBe(next);
          open = index ?? null;
          next += 1;
        } else if (event.type === "content_block_delta") {
          expect(index).toBe(open);
        } else if (event.type === "content_block_stop") {
          expect(index).toBe(open);
          open = null;
        }
      }
    });
  }
});
