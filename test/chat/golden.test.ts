/// <reference types="vite/client" />
/**
 * Golden SSE fixtures: native bytes in (test/fixtures/chat/*.native.sse), the exact Chat
 * Completions bytes out (*.chat.sse; see golden.ts, regenerate with `npx tsx test/chat/update-golden.ts`).
 * Each expected file is also checked against the Chat wire rules (client-protocols.md §4.3), so a
 * regenerated fixture cannot quietly enshrine a protocol violation.
 */
import { describe, expect, it } from "vitest";
import type { ChatCompletionChunk } from "../../src/protocols/openai-chat/schema";
import { projectFixture } from "./golden";
import { dataFrames } from "./helpers";

const natives = import.meta.glob<string>("../fixtures/chat/*.native.sse", { query: "?raw", import: "default", eager: true });
const expected = import.meta.glob<string>("../fixtures/chat/*.chat.sse", { query: "?raw", import: "default", eager: true });

const names = Object.keys(natives)
  .map((path) => /([^/]+)\.native\.sse$/.exec(path)?.[1] ?? "")
  .sort();

describe("golden fixtures (native SSE → Chat SSE)", () => {
  it("has the fixture set", () => {
    expect(names).toEqual(
      expect.arrayContaining(["text", "reasoning", "think-tags", "tool-calls", "incomplete", "failed", "failed-before-start", "cancelled-crlf", "cut", "human-approval", "noise", "usage-delta", "text-no-usage"]),
    );
  });

  for (const name of names) {
    it(name, async () => {
      const want = expected[`../fixtures/chat/${name}.chat.sse`];
      expect(want, `missing ${name}.chat.sse (run npx tsx test/chat/update-golden.ts)`).toBeDefined();
      const got = await projectFixture(name, natives[`../fixtures/chat/${name}.native.sse`] ?? "");
      expect(got).toBe(want);

      // Wire rules for the expected bytes themselves.
      const frames = dataFrames(want ?? "");
      expect(frames.at(-1)).toBe("[DONE]");
      expect(frames.filter((frame) => frame === "[DONE]")).toHaveLength(1);
      const payloads = frames.slice(0, -1).map((frame) => JSON.parse(frame) as ChatCompletionChunk & { error?: { message: string; type: string; code: string | null } });
      const errors = payloads.filter((payload) => payload.error);
      const chunks = payloads.filter((payload) => !payload.error);
      const finishes = chunks.filter((chunk) => chunk.choices[0]?.finish_reason);
      // Exactly one ending: a finish chunk, or an error as the last payload.
      expect(errors.length + finishes.length).toBe(1);
      if (errors.length === 1) {
        expect(payloads.at(-1)?.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
        expect(Object.keys(payloads.at(-1)?.error ?? {}).sort()).toEqual(["code", "message", "param", "type"]);
      }
      if (chunks.length > 0) {
        expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant" });
        expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
        expect(new Set(chunks.map((chunk) => chunk.created)).size).toBe(1);
      }
      const usageChunks = chunks.filter((chunk) => chunk.choices.length === 0);
      if (usageChunks.length > 0) {
        expect(usageChunks).toHaveLength(1);
        expect(chunks.at(-1)).toBe(usageChunks[0]);
        expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
      }
      const fragments = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
      const opened = new Set<number>();
      for (const fragment of fragments) {
        if (!opened.has(fragment.index)) {
          expect(fragment).toMatchObject({ id: expect.stringMatching(/^call_[A-Za-z0-9_-]{44}$/), type: "function", function: { name: expect.any(String) } });
          opened.add(fragment.index);
        }
      }
      for (const chunk of chunks) expect(JSON.stringify(chunk)).not.toContain("<think>");
    });
  }
});
