/**
 * Invariant 4: for the same scripted native run, the blocking `chat.completion` equals what a client
 * accumulates from the stream (ids and timestamps aside) — over a table of runs: plain, reasoning,
 * literal `<think>` tags, interleaved segments, native-synthesized deltas, tools (with text before
 * them), a long answer, an incomplete run, failures, and a resumed run. Checked twice: against the
 * gateway's own accumulator (every field, `reasoning_content` included) and against openai-node's
 * `finalChatCompletion()` (what that SDK keeps).
 */
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { describe, expect, it } from "vitest";
import { emu } from "../../emulator/script";
import { accumulateChatChunks } from "../../src/protocols/openai-chat/from-native";
import type { ChatCompletion, ChatCompletionChunk } from "../../src/protocols/openai-chat/schema";
import { MODEL, dataFrames, openai, post } from "./helpers";

type Outcome = { ok: true; completion: ChatCompletion } | { ok: false; status: number; error: unknown };

async function blocking(messages: ChatCompletionMessageParam[]): Promise<Outcome> {
  const response = await post("/v1/chat/completions", { model: MODEL, messages });
  const body = (await response.json()) as ChatCompletion & { error?: unknown };
  return response.ok ? { ok: true, completion: body } : { ok: false, status: response.status, error: body.error };
}

async function streamed(messages: ChatCompletionMessageParam[]): Promise<Outcome> {
  const response = await post("/v1/chat/completions", { model: MODEL, messages, stream: true, stream_options: { include_usage: true } });
  expect(response.status).toBe(200);
  const frames = dataFrames(await response.text());
  expect(frames.at(-1)).toBe("[DONE]");
  const payloads = frames.slice(0, -1).map((frame) => JSON.parse(frame) as ChatCompletionChunk & { error?: unknown });
  const failure = payloads.find((payload) => payload.error);
  if (failure) return { ok: false, status: 200, error: failure.error };
  return { ok: true, completion: accumulateChatChunks(payloads) };
}

/** Drops what legitimately differs between two runs: ids, timestamps, minted tool call ids. */
function comparable(completion: ChatCompletion): unknown {
  const { id: _id, created: _created, ...rest } = completion;
  return {
    ...rest,
    choices: rest.choices.map((choice) => ({
      ...choice,
      message: { ...choice.message, tool_calls: choice.message.tool_calls?.map((call) => ({ ...call, id: "call_*" })) },
    })),
  };
}

const RUNS: Array<[string, string]> = [
  ["plain (native echo)", "Hello there"],
  ["reasoning then text", emu({ reasoning: ["Let me ", "think."], text: ["The answer ", "is 4."] })],
  ["literal <think> tags inside message deltas", emu({ text: ["<thi", "nk>plan</th", "ink>Result", " <b>ok</b>"] })],
  ["interleaved reasoning and text", emu({ segments: [{ kind: "reasoning", text: "a" }, { kind: "message", text: "b" }, { kind: "reasoning", text: "c" }, { kind: "message", text: "d" }] })],
  ["native-synthesized deltas", emu({ reasoning: ["why"], text: ["what"], synthesized_deltas: true })],
  ["empty answer", emu({ text: [] })],
  ["tools, with text before the calls", emu({ reasoning: ["need data"], text: ["Checking."], tool_calls: [{ name: "a", arguments: { x: 1 } }, { name: "b", arguments: {} }] })],
  ["long answer", emu({ text: ["0123456789 "], repeat: 400 })],
  ["incomplete (max tokens)", emu({ text: ["cut"], incomplete: true })],
  ["usage with cache and reasoning detail", emu({ text: ["x"], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13, reasoning_tokens: 2, cache_read_tokens: 3 } })],
  ["failure after deltas", emu({ text: ["par", "tial"], fail: { code: "runtime_error", message: "broke", after_deltas: 1 } })],
  ["failure, rate limited", emu({ fail: { code: "rate_limited", message: "slow down", after_deltas: 0 } })],
];

describe("blocking == accumulated stream (invariant 4)", () => {
  for (const [name, content] of RUNS) {
    it(name, async () => {
      const messages: ChatCompletionMessageParam[] = [{ role: "user", content }];
      const [block, stream] = await Promise.all([blocking(messages), streamed(messages)]);
      expect(block.ok).toBe(stream.ok);
      if (block.ok && stream.ok) {
        expect(comparable(block.completion)).toEqual(comparable(stream.completion));
        expect(block.completion.choices[0]?.message.content ?? "").not.toContain("<think>");

        // openai-node's accumulation agrees on everything it keeps (it overwrites, rather than
        // appends, fields it does not know such as `reasoning_content`).
        const final = await openai().chat.completions.stream({ model: MODEL, messages, stream_options: { include_usage: true } }).finalChatCompletion();
        const sdk = final.choices[0];
        const ours = block.completion.choices[0];
        expect(sdk?.finish_reason).toBe(ours?.finish_reason);
        expect(sdk?.message.content ?? null).toBe(ours?.message.content);
        expect(sdk?.message.tool_calls?.map((call) => (call.type === "function" ? call.function : null))).toEqual(ours?.message.tool_calls?.map((call) => call.function));
        expect(final.usage).toEqual(block.completion.usage);
      } else if (!block.ok && !stream.ok) {
        expect(block.error).toEqual(stream.error);
      }
    });
  }

  it("a resumed run (tool results), blocking vs streamed", async () => {
    const script = emu({ tool_calls: [{ name: "lookup", arguments: { q: "x" } }], after_tools: { reasoning: ["ok"], text: ["Found ", "it."] } });
    const resume = async (stream: boolean) => {
      const first = await blocking([{ role: "user", content: script }]);
      if (!first.ok) throw new Error("tool turn failed");
      const message = first.completion.choices[0]?.message;
      const messages: ChatCompletionMessageParam[] = [
        { role: "user", content: script },
        message as ChatCompletionMessageParam,
        { role: "tool", tool_call_id: message?.tool_calls?.[0]?.id ?? "", content: "result" },
      ];
      return stream ? streamed(messages) : blocking(messages);
    };
    const [block, stream] = await Promise.all([resume(false), resume(true)]);
    expect(block.ok && stream.ok).toBe(true);
    if (block.ok && stream.ok) {
      expect(comparable(block.completion)).toEqual(comparable(stream.completion));
      expect(block.completion.choices[0]?.message).toMatchObject({ content: "Found it.", reasoning_content: "ok" });
    }
  });
});
