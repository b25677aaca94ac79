/// <reference types="vite/client" />
/**
 * The cross-protocol fixture table (issue 12): every native fixture through Chat Completions,
 * Responses and Anthropic Messages — streamed, blocking and from the run record — against golden
 * outputs (`test/fixtures/golden`, regenerate with `npx tsx test/answers/regenerate.ts`), plus the
 * invariants a golden could not be trusted to keep on its own:
 * - each stream obeys its protocol's wire rules (the strict order checkers);
 * - blocking equals what a client accumulates from the stream (invariant 4), per protocol;
 * - the three protocols say the same thing about every answer — text, reasoning, tool calls, how it
 *   ended, the failure's status and code — streamed, blocking and from the record. A drift such as
 *   one protocol streaming raw `<think>` tags fails here for every fixture that has them.
 */
import { describe, expect, it } from "vitest";
import { accumulateChatChunks } from "../../src/protocols/openai-chat/from-native";
import type { ChatCompletionChunk } from "../../src/protocols/openai-chat/schema";
import { MessageAccumulator } from "../../src/protocols/anthropic/from-native";
import type { AnthropicStreamEvent } from "../../src/protocols/anthropic/schema";
import { dataFrames } from "../chat/helpers";
import { parseSse as parseAnthropicSse, typedEvents } from "../anthropic/helpers";
import { checkEventOrder, parseSse as parseResponsesSse } from "../responses/helpers";
import { goldenJson, projectRow, PROTOCOLS, type Blocking, type Protocol, type TableRow } from "./table";

const natives = import.meta.glob<string>("../fixtures/native/*.native.sse", { query: "?raw", import: "default", eager: true });
const overrides = import.meta.glob<string>("../fixtures/native/*.record.json", { query: "?raw", import: "default", eager: true });
const goldens = import.meta.glob<string>("../fixtures/golden/*", { query: "?raw", import: "default", eager: true });

const names = Object.keys(natives)
  .map((path) => /([^/]+)\.native\.sse$/.exec(path)?.[1] ?? "")
  .sort();

type Json = Record<string, unknown>;

/** What an answer says, in no protocol's words. */
interface Summary {
  message: string;
  reasoning: string;
  toolCalls: Array<{ name: string; input: unknown }>;
  end: "completed" | "incomplete" | "tool_calls" | { status: number; code: string | null };
}

function errorEnd(error: { status: number; code: string | null }): Summary["end"] {
  // Anthropic answers 503 as 529 overloaded_error (protocols/anthropic/errors.ts).
  return { status: error.status === 529 ? 503 : error.status, code: error.code };
}

function summarize(protocol: Protocol, answer: Blocking): Summary {
  if ("error" in answer) return { message: "", reasoning: "", toolCalls: [], end: errorEnd(answer.error) };
  const body = answer.body as Json;
  if (protocol === "chat") {
    const choice = (body.choices as Json[])[0] ?? {};
    const message = choice.message as { content: string | null; reasoning_content?: string; tool_calls?: Array<{ function: { name: string; arguments: string } }> };
    const reason = choice.finish_reason as string;
    return {
      message: message.content ?? "",
      reasoning: message.reasoning_content ?? "",
      toolCalls: (message.tool_calls ?? []).map((call) => ({ name: call.function.name, input: JSON.parse(call.function.arguments) as unknown })),
      end: reason === "stop" ? "completed" : reason === "length" ? "incomplete" : "tool_calls",
    };
  }
  if (protocol === "responses") {
    const output = body.output as Json[];
    const calls = output.filter((item) => item.type === "function_call");
    return {
      message: output.filter((item) => item.type === "message").map((item) => ((item.content as Json[])[0]?.text as string) ?? "").join(""),
      reasoning: output.filter((item) => item.type === "reasoning").map((item) => ((item.summary as Json[])[0]?.text as string) ?? "").join(""),
      toolCalls: calls.map((item) => ({ name: item.name as string, input: JSON.parse(item.arguments as string) as unknown })),
      end: body.status === "incomplete" ? "incomplete" : calls.length > 0 ? "tool_calls" : "completed",
    };
  }
  const content = body.content as Json[];
  const stop = body.stop_reason as string;
  return {
    message: content.filter((block) => block.type === "text").map((block) => block.text as string).join(""),
    reasoning: content.filter((block) => block.type === "thinking").map((block) => block.thinking as string).join(""),
    toolCalls: content.filter((block) => block.type === "tool_use").map((block) => ({ name: block.name as string, input: block.input })),
    end: stop === "end_turn" ? "completed" : stop === "max_tokens" ? "incomplete" : "tool_calls",
  };
}

/** The stream's own final answer, as a client accumulates it — the same shape as `Blocking`. */
function accumulated(protocol: Protocol, stream: string): Blocking {
  if (protocol === "chat") {
    const frames = dataFrames(stream);
    expect(frames.at(-1)).toBe("[DONE]");
    const payloads = frames.slice(0, -1).map((frame) => JSON.parse(frame) as ChatCompletionChunk & { error?: { code: string | null; message: string } });
    const error = payloads.find((payload) => payload.error)?.error;
    if (error) return { error: { status: 0, code: error.code, message: error.message, retry: undefined, retryAfter: undefined } };
    return { body: accumulateChatChunks(payloads) };
  }
  if (protocol === "responses") {
    const events = parseResponsesSse(stream);
    const final = checkEventOrder(events);
    if (final.status === "failed" || final.status === "cancelled") {
      const error = final.error as { code: string; message: string };
      return { error: { status: 0, code: error.code, message: error.message, retry: undefined, retryAfter: undefined } };
    }
    return { body: final };
  }
  const accumulator = new MessageAccumulator();
  for (const event of typedEvents(parseAnthropicSse(stream))) accumulator.event(event as unknown as AnthropicStreamEvent);
  if (accumulator.error) return { error: { status: 0, code: null, message: accumulator.error.message, retry: undefined, retryAfter: undefined } };
  return { body: accumulator.message };
}

/** Wire rules of each protocol's stream (client-protocols.md §3.3, §4.3, §5.3). */
function checkWire(protocol: Protocol, stream: string): void {
  expect(stream).not.toMatch(/<\/?think>/);
  if (protocol === "chat") {
    const frames = dataFrames(stream);
    expect(frames.filter((frame) => frame === "[DONE]")).toHaveLength(1);
    const payloads = frames.slice(0, -1).map((frame) => JSON.parse(frame) as ChatCompletionChunk & { error?: Json });
    const chunks = payloads.filter((payload) => !payload.error);
    const errors = payloads.filter((payload) => payload.error);
    const finishes = chunks.filter((chunk) => chunk.choices[0]?.finish_reason);
    expect(errors.length + finishes.length, "exactly one ending").toBe(1);
    if (errors.length === 1) expect(Object.keys(payloads.at(-1)?.error ?? {}).sort()).toEqual(["code", "message", "param", "type"]);
    if (chunks.length > 0) {
      expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant" });
      expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    }
    const usage = chunks.filter((chunk) => chunk.choices.length === 0);
    if (usage.length > 0) expect(chunks.at(-1)).toBe(usage[0]);
    for (const fragment of chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? [])) {
      if (fragment.id !== undefined) expect(fragment).toMatchObject({ id: expect.stringMatching(/^call_[A-Za-z0-9_-]{44}$/), type: "function" });
    }
    return;
  }
  if (protocol === "responses") {
    const events = parseResponsesSse(stream);
    // A fault before any native event has no response to announce: one error event, nothing else.
    if (events.length === 1) expect(events[0]?.data.type).toBe("error");
    else checkEventOrder(events);
    return;
  }
  const events = typedEvents(parseAnthropicSse(stream));
  const types = events.map((event) => event.type);
  expect(types.filter((type) => type === "message_stop" || type === "error"), "exactly one ending").toHaveLength(1);
  expect(["message_stop", "error"]).toContain(types.at(-1));
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
}

function golden(name: string): string {
  const text = goldens[`../fixtures/golden/${name}`];
  if (text === undefined) throw new Error(`missing golden ${name} (run npx tsx test/answers/regenerate.ts)`);
  return text;
}

const rows = new Map<string, Promise<TableRow>>();
function row(name: string): Promise<TableRow> {
  let projected = rows.get(name);
  if (!projected) {
    const override = overrides[`../fixtures/native/${name}.record.json`];
    projected = projectRow(natives[`../fixtures/native/${name}.native.sse`] ?? "", override ? (JSON.parse(override) as Json) : {});
    rows.set(name, projected);
  }
  return projected;
}

describe("the cross-protocol fixture table", () => {
  it("has the fixture set, every one with its goldens", () => {
    for (const required of ["text-chat", "reasoning-think", "think-tags", "interleaved", "tool-calls-chat", "incomplete-chat", "failed-chat", "failed-class-in-record", "failed-before-start-chat", "cancelled", "cut-chat", "human-approval", "human-approval-fallback", "usage-delta", "usage-raw", "noise", "empty-crlf"]) {
      expect(names).toContain(required);
    }
    const expected = names.flatMap((name) => [`${name}.json`, ...PROTOCOLS.map((protocol) => `${name}.${protocol}.sse`)]).sort();
    expect(Object.keys(goldens).map((path) => path.replace(/^.*\//, "")).sort()).toEqual(expected);
  });

  for (const name of names) {
    describe(name, () => {
      it("matches its goldens: three streams, three blocking answers, three record answers", async () => {
        const projected = await row(name);
        for (const protocol of PROTOCOLS) expect(projected[protocol].stream, `${protocol} stream`).toBe(golden(`${name}.${protocol}.sse`));
        expect(goldenJson(projected)).toBe(golden(`${name}.json`));
      });

      it("keeps each protocol's wire rules, and blocking equals the accumulated stream", async () => {
        const projected = await row(name);
        for (const protocol of PROTOCOLS) {
          checkWire(protocol, projected[protocol].stream);
          const fromStream = accumulated(protocol, projected[protocol].stream);
          const blocking = projected[protocol].blocking;
          if ("error" in blocking) {
            expect("error" in fromStream, `${protocol}: the stream ends in an error too`).toBe(true);
            if ("error" in fromStream) {
              expect(fromStream.error.message).toBe(blocking.error.message);
              if (protocol !== "anthropic") expect(fromStream.error.code).toBe(blocking.error.code);
            }
          } else {
            expect(fromStream, `${protocol}: blocking == accumulated stream`).toEqual(blocking);
          }
        }
      });

      it("says the same thing in all three protocols, streamed, blocking and from the record", async () => {
        const projected = await row(name);
        for (const path of ["blocking", "record"] as const) {
          const [first, ...others] = PROTOCOLS.map((protocol) => summarize(protocol, projected[protocol][path]));
          for (const other of others) expect(other, path).toEqual(first);
          expect(first?.message).not.toMatch(/<\/?think>/);
        }
        // Streamed endings agree too (the stream of a fault before any event has no status: compare text only).
        const streamed = PROTOCOLS.map((protocol) => summarize(protocol, accumulated(protocol, projected[protocol].stream)));
        for (const other of streamed.slice(1)) {
          expect(other.message).toBe(streamed[0]?.message);
          expect(other.reasoning).toBe(streamed[0]?.reasoning);
          expect(other.toolCalls).toEqual(streamed[0]?.toolCalls);
        }
      });
    });
  }
});
