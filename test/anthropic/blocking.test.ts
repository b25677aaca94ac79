/**
 * Invariant 4: for the same kind of native run, the blocking `Message` equals what the Anthropic
 * SDK's `MessageStream.finalMessage()` accumulates from the stream (ids aside) — over a table of
 * scripted runs, including tool calls, interleaved reasoning, synthesized deltas, failures and a
 * resumed run.
 */
import { APIError } from "@anthropic-ai/sdk";
import type Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { anthropic, comparable } from "./helpers";

type Script = Parameters<typeof emu>[0];

const TOOL = { name: "lookup", description: "Look something up", input_schema: { type: "object" as const, properties: { q: { type: "string" } } } };

const table: Array<[string, Script]> = [
  ["default echo answer", {}],
  ["reasoning then text", { reasoning: ["Think ", "hard"], text: ["Ans", "wer"] }],
  [
    "interleaved reasoning and text",
    {
      segments: [
        { kind: "reasoning", text: "first thought" },
        { kind: "message", text: "Part one. " },
        { kind: "reasoning", text: "second thought" },
        { kind: "message", text: "Part two." },
      ],
    },
  ],
  ["text, then tool calls", { reasoning: ["need data"], text: ["Let me look."], tool_calls: [{ name: "lookup", arguments: { q: "a" } }, { name: "lookup", arguments: { q: "b" } }] }],
  ["tool call only, empty input", { tool_calls: [{ name: "lookup", arguments: {} }] }],
  ["incomplete", { text: ["trunc"], incomplete: true }],
  ["usage with cache counts", { text: ["ok"], usage: { prompt_tokens: 50, completion_tokens: 4, cache_read_tokens: 30, cache_write_tokens: 10 } }],
  ["usage on the terminal event", { text: ["ok"], usage: { prompt_tokens: 9, completion_tokens: 1 }, usage_on_terminal: true }],
  ["deltas synthesized by native's terminal fallback", { reasoning: ["why"], text: ["because"], synthesized_deltas: true }],
  ["unicode and a long answer", { text: ["héllo 🌍 ", "世界 "], repeat: 50 }],
  ["empty answer", { text: [] }],
];

async function both(script: Script): Promise<[Anthropic.Message, Anthropic.Message]> {
  const client = anthropic();
  const request = { model: "1flowbase", max_tokens: 1024, tools: [TOOL], messages: [{ role: "user" as const, content: emu(script, "question") }] };
  const blocking = await client.messages.create(request);
  const streamed = await client.messages.stream(request).finalMessage();
  return [blocking, streamed];
}

describe("blocking == MessageStream.finalMessage()", () => {
  for (const [name, script] of table) {
    it(name, async () => {
      const [blocking, streamed] = await both(script);
      expect(comparable(blocking)).toEqual(comparable(streamed));
      expect(blocking.content.length).toBeGreaterThan(0);
    });
  }

  it("a failed run: the blocking HTTP error is the stream's error event", async () => {
    const script: Script = { text: ["partial"], fail: { code: "rate_limited", message: "provider said slow down", after_deltas: 1 } };
    const request = { model: "1flowbase", max_tokens: 64, messages: [{ role: "user" as const, content: emu(script, "q") }] };
    const client = anthropic();
    const blocking = await client.messages.create(request).then(() => null, (error: unknown) => error);
    const streamed = await client.messages.stream(request).finalMessage().then(() => null, (error: unknown) => error);
    expect(blocking).toBeInstanceOf(APIError);
    expect(streamed).toBeInstanceOf(APIError);
    const [b, s] = [blocking as APIError, streamed as APIError];
    expect([b.type, b.apiMessage]).toEqual([s.type, s.apiMessage]);
    expect(b.type).toBe("rate_limit_error");
  });

  it("a resumed run: blocking and streaming continuations agree", async () => {
    const client = anthropic();
    const script: Script = { tool_calls: [{ id: "t1", name: "lookup", arguments: { q: "x" } }], after_tools: { reasoning: ["got it"], text: ["Done: ", "x"] } };
    const continueWith = async (stream: boolean): Promise<Anthropic.Message> => {
      const first = await client.messages.create({ model: "1flowbase", max_tokens: 64, tools: [TOOL], messages: [{ role: "user", content: emu(script, "q") }] });
      const use = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
      const request = {
        model: "1flowbase",
        max_tokens: 64,
        tools: [TOOL],
        messages: [
          { role: "user" as const, content: emu(script, "q") },
          { role: "assistant" as const, content: first.content },
          { role: "user" as const, content: [{ type: "tool_result" as const, tool_use_id: use?.id ?? "", content: "result" }] },
        ],
      };
      return stream ? client.messages.stream(request).finalMessage() : client.messages.create(request);
    };
    const [blocking, streamed] = [await continueWith(false), await continueWith(true)];
    expect(blocking.id).toMatch(/^msg_[0-9a-f]{32}_[0-9a-f]{32}$/);
    expect(comparable(blocking)).toEqual(comparable(streamed));
    expect(blocking.content.map((block) => block.type)).toEqual(["thinking", "text"]);
  });
});
