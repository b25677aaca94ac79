/**
 * The Chat encoder and the blocking fold, pure (no worker, no emulator): chunk order and shape
 * (client-protocols.md §4.3), `<think>` splitting across deltas (the answer reader's, seen through
 * Chat), tool-call fragments, usage rules, failure semantics, the SSE projector's per-stream delta
 * templates, and the record path.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GatewayError, openAiErrorBody } from "../../src/http/errors";
import { NativeAnswerReader } from "../../src/native/answer";
import { decodeCallbackId } from "../../src/native/callback-ids";
import { NativeError } from "../../src/native/errors";
import { readNativeStream, type NativeStreamItem } from "../../src/native/events";
import type { NativeEvent, NativeEventData, NativeRun } from "../../src/native/schema";
import { runToItems } from "../../src/native/synthesize";
import { parseNativeTime } from "../../src/native/time";
import { accumulateChatChunks, chatCompletionFrom } from "../../src/protocols/openai-chat/from-native";
import type { ChatCompletionChunk } from "../../src/protocols/openai-chat/schema";
import { ChatEncoder, ChatStreamProjector, DONE_FRAME, type ChatChunkWriter, type ChatProjectionOptions } from "../../src/protocols/openai-chat/stream";
import { splitThinkReference } from "../support/think-reference";

type NativeUsage = Record<string, number>;

/** What the encoder wrote, one entry per chunk (a text call stands for its chunk) or error. */
type ChatStreamOutput = { kind: "chunk"; chunk: ChatCompletionChunk } | { kind: "error"; error: GatewayError };

/** A writer that records the encoder's chunks as objects (the generic path the SSE templates must equal). */
class RecordingWriter implements ChatChunkWriter {
  readonly outputs: ChatStreamOutput[] = [];
  encoder: ChatEncoder | null = null;
  ended = false;
  chunk(chunk: ChatCompletionChunk): void {
    this.outputs.push({ kind: "chunk", chunk });
  }
  text(field: "content" | "reasoning_content", text: string): void {
    if (!this.encoder) throw new Error("no encoder");
    this.outputs.push({ kind: "chunk", chunk: this.encoder.textChunk(field, text) });
  }
  error(error: GatewayError): void {
    this.outputs.push({ kind: "error", error });
  }
  end(): void {
    this.ended = true;
  }
}

/** A recording reader+encoder for `options`. */
function machine(options: ChatProjectionOptions, coalesceText = false): { reader: NativeAnswerReader; writer: RecordingWriter } {
  const writer = new RecordingWriter();
  const encoder = new ChatEncoder(options, writer);
  writer.encoder = encoder;
  return { reader: new NativeAnswerReader(encoder, { lookupRun: options.lookupRun, wantsUsage: options.includeUsage, coalesceText }), writer };
}

/** A `lookupRun` answering a succeeded record with `usage`. */
const recordWith = (usage: NativeUsage) => async (runId: string): Promise<NativeRun> => ({ id: runId, status: "succeeded", usage });

const RUN = "0197a3c4-0000-7000-8000-000000000001";
const TASK = "0197a3c4-0000-7000-8000-0000000000aa";
const CREATED = "2026-06-26T14:52:53.101Z";

const started = (): NativeEvent => ({ event: "run.started", id: null, data: { run_id: RUN, status: "running", created_at: CREATED } as NativeEventData });
const message = (delta: string): NativeEvent => ({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", delta } });
/** A first delta that starts the run itself (carries `created_at`, as native's events do). */
const firstMessage = (delta: string): NativeEvent => ({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", created_at: CREATED, delta } });
const reasoning = (delta: string): NativeEvent => ({ event: "reasoning.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const completed = (usage: NativeUsage | null = null): NativeEvent => ({ event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded", usage } });
const failed = (code = "runtime_error", text = "boom"): NativeEvent => ({
  event: "run.failed",
  id: null,
  data: { run_id: RUN, status: "failed", error: { code, message: text } },
});
const toolCalls = (calls: Array<{ id: string; name: string; arguments: unknown }>, actionType = "submit_tool_outputs"): NativeEvent => ({
  event: "required_action",
  id: null,
  data: {
    run_id: RUN,
    status: "waiting",
    required_action: { action_type: actionType, payload: { callback_task_id: TASK, tool_calls: calls } },
  },
});

async function project(items: readonly NativeStreamItem[], options: Partial<ChatProjectionOptions> = {}): Promise<ChatStreamOutput[]> {
  const { reader, writer } = machine({ model: "m", includeUsage: false, ...options });
  for (const item of items) await reader.push(item);
  return writer.outputs;
}

const chunksOf = (outputs: readonly ChatStreamOutput[]): ChatCompletionChunk[] =>
  outputs.flatMap((output) => (output.kind === "chunk" ? [output.chunk] : []));

describe("ChatEncoder", () => {
  it("role first, content and reasoning deltas, exactly one finish chunk; nothing after it", async () => {
    const { reader, writer } = machine({ model: "m", includeUsage: false });
    for (const item of [started(), reasoning("Let me think"), message("Hel"), message("lo"), completed(), message("late")]) reader.push(item);
    const chunks = chunksOf(writer.outputs);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta)).toEqual([
      { role: "assistant" },
      { reasoning_content: "Let me think" },
      { content: "Hel" },
      { content: "lo" },
      {},
    ]);
    expect(chunks.map((chunk) => chunk.choices[0]?.finish_reason)).toEqual([null, null, null, null, "stop"]);
    expect(new Set(chunks.map((chunk) => chunk.id))).toEqual(new Set([`chatcmpl-${RUN}`]));
    expect(new Set(chunks.map((chunk) => chunk.created))).toEqual(new Set([parseNativeTime(CREATED)]));
    expect(chunks.every((chunk) => !("usage" in chunk))).toBe(true);
    expect(reader.done).toBe(true);
    expect(writer.ended).toBe(true);
  });

  it("an empty answer finishes with content \"\" (not a missing content)", async () => {
    const chunks = chunksOf(await project([started(), completed()]));
    expect(chunks.at(-1)?.choices[0]).toMatchObject({ delta: { content: "" }, finish_reason: "stop" });
    expect(accumulateChatChunks(chunks).choices[0]?.message.content).toBe("");
  });

  it("run.incomplete → finish_reason length", async () => {
    const incomplete: NativeEvent = { event: "run.incomplete", id: null, data: { run_id: RUN, status: "incomplete" } };
    expect(chunksOf(await project([started(), message("abc"), incomplete])).at(-1)?.choices[0]?.finish_reason).toBe("length");
  });

  it("a stream whose first event is terminal still starts with the role", async () => {
    const chunks = chunksOf(await project([message("x"), completed()]));
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: "assistant" });
  });

  it("tool calls: first fragment has id, type and name; the second the arguments; then finish tool_calls", async () => {
    const chunks = chunksOf(
      await project([
        started(),
        message("Checking."),
        toolCalls([
          { id: "call_1", name: "get_weather", arguments: { city: "Paris" } },
          { id: "call_2", name: "get_time", arguments: "{\"tz\":\"CET\"}" },
        ]),
      ]),
    );
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta.tool_calls?.[0]).filter(Boolean);
    expect(deltas).toEqual([
      { index: 0, id: expect.stringMatching(/^call_[A-Za-z0-9_-]{44}$/), type: "function", function: { name: "get_weather", arguments: "" } },
      { index: 0, function: { arguments: '{"city":"Paris"}' } },
      { index: 1, id: expect.stringMatching(/^call_[A-Za-z0-9_-]{44}$/), type: "function", function: { name: "get_time", arguments: "" } },
      { index: 1, function: { arguments: '{"tz":"CET"}' } },
    ]);
    expect(decodeCallbackId("call", deltas[2]?.id ?? "")).toEqual({ runId: RUN, callbackTaskId: TASK, index: 1 });
    expect(chunks.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: "tool_calls" });
    const completion = accumulateChatChunks(chunks);
    expect(completion.choices[0]?.message.content).toBe("Checking.");
    expect(completion.choices[0]?.message.tool_calls?.map((call) => call.function)).toEqual([
      { name: "get_weather", arguments: '{"city":"Paris"}' },
      { name: "get_time", arguments: '{"tz":"CET"}' },
    ]);
  });

  it("a waiting state Chat cannot carry (human approval, no tool calls) → 409 required_action_not_supported", async () => {
    for (const event of [toolCalls([], "submit_tool_outputs"), toolCalls([{ id: "a", name: "b", arguments: {} }], "callback")]) {
      const outputs = await project([started(), event]);
      expect(outputs.at(-1)).toMatchObject({ kind: "error", error: { status: 409, code: "required_action_not_supported" } });
    }
  });

  it.each([
    ["run.failed after deltas", [started(), message("partial"), failed("runtime_error", "boom")], 500, "runtime_error"],
    ["run.failed rate limited", [started(), failed("rate_limited", "slow down")], 429, "rate_limit_exceeded"],
    ["run.failed as the only event", [failed()], 500, "runtime_error"],
    ["run.cancelled", [started(), { event: "run.cancelled", id: null, data: { run_id: RUN, status: "cancelled" } } as NativeEvent], 409, "run_cancelled"],
    ["cut stream", [started(), message("x"), { event: "fault", error: NativeError.cut() } as NativeStreamItem], 502, "upstream_stream_cut"],
  ])("%s → an error, never a finish chunk", async (_name, items, status, code) => {
    const outputs = await project(items);
    expect(outputs.filter((output) => output.kind === "error")).toHaveLength(1);
    expect(outputs.at(-1)).toMatchObject({ kind: "error", error: { status, code } });
    expect(chunksOf(outputs).some((chunk) => chunk.choices[0]?.finish_reason)).toBe(false);
  });

  describe("usage (include_usage)", () => {
    const usage: NativeUsage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, reasoning_tokens: 3, cache_read_tokens: 5 };
    const expected = {
      prompt_tokens: 11,
      completion_tokens: 7,
      total_tokens: 18,
      prompt_tokens_details: { cached_tokens: 5 },
      completion_tokens_details: { reasoning_tokens: 3 },
    };

    it("usage:null on every chunk, then one choices:[] chunk with the totals", async () => {
      const chunks = chunksOf(await project([started(), message("x"), completed(usage)], { includeUsage: true }));
      expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
      expect(chunks.at(-1)).toMatchObject({ choices: [], usage: expected });
      expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    });

    it("without the terminal's usage: the last usage.delta, else the run record, else zeros", async () => {
      const usageDelta: NativeEvent = { event: "usage.delta", id: null, data: { run_id: RUN, status: "running", usage } };
      expect(chunksOf(await project([started(), usageDelta, completed()], { includeUsage: true })).at(-1)?.usage).toEqual(expected);

      const lookedUp: string[] = [];
      const lookup = async (runId: string) => {
        lookedUp.push(runId);
        return recordWith(usage)(runId);
      };
      expect(chunksOf(await project([started(), completed()], { includeUsage: true, lookupRun: lookup })).at(-1)?.usage).toEqual(expected);
      expect(lookedUp).toEqual([RUN]);

      const broken = async () => {
        throw new Error("native down");
      };
      expect(chunksOf(await project([started(), completed()], { includeUsage: true, lookupRun: broken })).at(-1)?.usage?.total_tokens).toBe(0);
    });

    it("no lookup when usage was not asked for", async () => {
      let called = false;
      const outputs = await project([started(), completed()], {
        lookupRun: async (runId) => {
          called = true;
          return recordWith(usage)(runId);
        },
      });
      expect(called).toBe(false);
      expect(chunksOf(outputs).every((chunk) => chunk.choices.length === 1)).toBe(true);
    });
  });

  it("literal <think> in message deltas becomes reasoning_content, even across delta boundaries", () => {
    const answer = "<think>plan A</think>Result <b>bold</b> done<thi";
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: answer.length - 1 }), { maxLength: 12 }), (cuts) => {
        const bounds = [...new Set([0, ...cuts, answer.length])].sort((a, b) => a - b);
        const deltas = bounds.slice(1).map((end, i) => answer.slice(bounds[i], end));
        const { reader, writer } = machine({ model: "m", includeUsage: false });
        for (const item of [started(), ...deltas.map(message), completed()]) reader.push(item);
        const completion = accumulateChatChunks(chunksOf(writer.outputs));
        const pieces = splitThinkReference(answer);
        expect(completion.choices[0]?.message.content).toBe(pieces.message);
        expect(completion.choices[0]?.message.reasoning_content).toBe(pieces.reasoning);
        expect(completion.choices[0]?.message.content).not.toContain("<think>");
      }),
    );
  });

  it("matches the whole-text splitter on arbitrary text (random tags, random cuts)", () => {
    const alphabet = fc.constantFrom("a", "<", ">", "/", "<think>", "</think>", "<thi", "nk>", " ");
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), (parts, cuts) => {
        const answer = parts.join("");
        const bounds = [...new Set([0, ...cuts.map((cut) => cut % (answer.length + 1)), answer.length])].sort((a, b) => a - b);
        const deltas = bounds.slice(1).map((end, i) => answer.slice(bounds[i], end));
        const { reader, writer } = machine({ model: "m", includeUsage: false });
        for (const item of [started(), ...deltas.map(message), completed()]) reader.push(item);
        const message_ = accumulateChatChunks(chunksOf(writer.outputs)).choices[0]?.message;
        const pieces = splitThinkReference(answer);
        expect(message_?.content).toBe(pieces.message);
        expect(message_?.reasoning_content ?? "").toBe(pieces.reasoning);
      }),
    );
  });
});

describe("ChatStreamProjector", () => {
  it("data-only frames, [DONE] exactly once after the terminal frame, error chunk in OpenAI shape", async () => {
    const projector = new ChatStreamProjector({ model: "m", includeUsage: false });
    let out = "";
    for (const item of [started(), message("x"), failed("runtime_error", "boom"), message("after")]) {
      await projector.push(item);
      out += projector.take();
    }
    const frames = out.split(/(?<=\n\n)/);
    expect(frames.every((frame) => frame.startsWith("data: ") && frame.endsWith("\n\n"))).toBe(true);
    expect(frames.filter((frame) => frame === DONE_FRAME)).toHaveLength(1);
    expect(frames.at(-1)).toBe(DONE_FRAME);
    expect(JSON.parse((frames.at(-2) ?? "").slice(6))).toEqual({
      error: { message: "boom", type: "server_error", param: null, code: "runtime_error" },
    });
    expect(projector.done).toBe(true);
    expect(projector.keepalive()).toMatch(/^:/);
  });
});

describe("ChatStreamProjector delta frames (per-stream templates)", () => {
  /** What the projector must produce: each encoder output serialized whole, as a chunk or an error. */
  async function reference(items: readonly NativeStreamItem[], options: ChatProjectionOptions): Promise<string> {
    // As the projector reads: text joined within an item (a think tag's split halves), handed on per item.
    const { reader, writer } = machine(options, true);
    for (const item of items) {
      await reader.push(item);
      reader.flushText();
    }
    let out = "";
    for (const output of writer.outputs) out += `data: ${JSON.stringify(output.kind === "chunk" ? output.chunk : openAiErrorBody(output.error))}\n\n`;
    return writer.ended ? out + DONE_FRAME : out;
  }

  async function projected(items: readonly NativeStreamItem[], options: ChatProjectionOptions): Promise<string> {
    const projector = new ChatStreamProjector(options);
    let out = "";
    for (const item of items) {
      await projector.push(item);
      out += projector.take();
    }
    return out;
  }

  // Text JSON escapes (quotes, backslashes, controls, lone surrogates, U+2028, NUL), astral
  // characters, and think tags whole or cut anywhere.
  const piece = fc.constantFrom("a", "é", "😀", '"', "\\", "\n", "\u0000", "\u001f", "\u2028", "\ud800", "\udc00", "<", ">", "/", "<think>", "</think>", "<thi", "nk>", "</th", "ink>", " ");
  const text = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(""));
  const delta = fc.oneof(text.map(message), text.map(reasoning));
  const terminal = fc.constantFrom<NativeEvent>(
    completed(),
    completed({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }),
    { event: "run.incomplete", id: null, data: { run_id: RUN, status: "incomplete" } },
    toolCalls([{ id: "c", name: "f", arguments: { q: "\"<think>" } }]),
    failed(),
  );

  // The first event is dated: without a `created_at` both sides would read the clock (flaky).
  const first = fc.oneof(fc.constant(started()), text.map(firstMessage));

  it("are byte-identical to serializing each chunk, for any text, model and usage setting", async () => {
    await fc.assert(
      fc.asyncProperty(
        first,
        fc.array(delta, { maxLength: 12 }),
        terminal,
        fc.constantFrom("m", 'we"ird\\model', "\u0000text\u0000", "😀"),
        fc.boolean(),
        async (start, deltas, end, model, includeUsage) => {
          const items = [start, ...deltas, end, message("late")];
          const options: ChatProjectionOptions = { model, includeUsage, lookupRun: recordWith({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 }) };
          expect(await projected(items, options)).toBe(await reference(items, options));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("chatCompletionFrom a stream (blocking fold, delta text straight into the accumulator)", () => {
  const usage: NativeUsage = { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 };
  const piece = fc.constantFrom("a", "é", '"', "\n", "<", ">", "/", "<think>", "</think>", "<thi", "nk>", "</th", "ink>", " ");
  const text = fc.array(piece, { maxLength: 8 }).map((parts) => parts.join(""));
  const events = fc.tuple(
    // Dated, so `created` never comes from the clock (see above).
    fc.oneof(fc.constant(started()), text.map(firstMessage)),
    fc.array(fc.oneof(text.map(message), text.map(reasoning)), { maxLength: 12 }),
    fc.constantFrom<NativeEvent>(
      completed(usage),
      completed(),
      { event: "run.incomplete", id: null, data: { run_id: RUN, status: "incomplete" } },
      toolCalls([{ id: "c", name: "f", arguments: { q: 1 } }, { id: "d", name: "g", arguments: "" }]),
      failed(),
    ),
  ).map(([start, deltas, end]) => [start, ...deltas, end]);

  /** What a client accumulates from the encoder's chunks (or the error it would see). */
  async function reference(items: readonly NativeEvent[]): Promise<unknown> {
    const { reader, writer } = machine({ model: "m", includeUsage: true, lookupRun: recordWith(usage) });
    for (const item of items) await reader.push(item);
    const chunks: ChatCompletionChunk[] = [];
    for (const output of writer.outputs) {
      if (output.kind === "error") return output.error;
      chunks.push(output.chunk);
    }
    return accumulateChatChunks(chunks);
  }

  const plainStream = (items: readonly NativeEvent[]): ReadableStream<NativeStreamItem> =>
    new ReadableStream({
      start(controller) {
        for (const item of items) controller.enqueue(item);
        controller.close();
      },
    });
  // Through the decoder, so `readNativeItemBatches` gets real multi-item batches.
  const decodedStream = (items: readonly NativeEvent[]): ReadableStream<NativeStreamItem> =>
    readNativeStream(new Blob([items.map((item) => `event: ${item.event}\ndata: ${JSON.stringify(item.data)}\n\n`).join("")]).stream(), { idleMs: 60_000 });

  it("equals accumulating the stream machine's chunks (invariant 4), plain or batched", async () => {
    await fc.assert(
      fc.asyncProperty(events, fc.boolean(), async (items, decoded) => {
        const want = await reference(items);
        const got = await chatCompletionFrom((decoded ? decodedStream : plainStream)(items), { model: "m", lookupRun: recordWith(usage) }).catch((error: unknown) => error);
        expect(got).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
});

describe("chatCompletionFrom a run record (blocking, resumed runs)", () => {
  const chatCompletionFromRun = (record: NativeRun, options: Parameters<typeof chatCompletionFrom>[1]) => chatCompletionFrom(runToItems(record), options);
  const run = (fields: Partial<NativeRun>): NativeRun => ({ id: RUN, status: "succeeded", created_at: "2026-06-26 6:52:53.123456 +00:00:00", ...fields });

  it("splits <think> out of the answer; created from the record's Display timestamp", async () => {
    const completion = await chatCompletionFromRun(run({ answer: "<think>hmm</think>\nHi", usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } }), { model: "m" });
    expect(completion).toMatchObject({
      id: `chatcmpl-${RUN}`,
      object: "chat.completion",
      created: Date.UTC(2026, 5, 26, 6, 52, 53) / 1000,
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "\nHi", reasoning_content: "hmm", refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    });
  });

  it("a failed run is an error (its answer, the error text, is never shown), never an empty success", async () => {
    await expect(chatCompletionFromRun(run({ status: "failed", answer: "boom", error: { code: "runtime_error", message: "boom" } }), { model: "m" })).rejects.toMatchObject({
      status: 500,
      code: "runtime_error",
      message: "boom",
    });
    await expect(chatCompletionFromRun(run({ status: "cancelled" }), { model: "m" })).rejects.toBeInstanceOf(GatewayError);
    await expect(chatCompletionFromRun(run({ status: "cancelled" }), { model: "m" })).rejects.toMatchObject({ status: 409 });
  });

  it("an unfinished run record is an upstream error (502)", async () => {
    await expect(chatCompletionFromRun(run({ status: "running" }), { model: "m" })).rejects.toMatchObject({ status: 502, code: "upstream_invalid_response" });
  });

  it("a resumed run answers as chatcmpl-<run>-<task>", async () => {
    expect((await chatCompletionFromRun(run({ answer: "ok" }), { model: "m", idSuffix: TASK })).id).toBe(`chatcmpl-${RUN}-${TASK}`);
  });
});

describe("parseNativeTime (the one native time parser)", () => {
  it.each([
    ["2026-06-26T14:52:53.101Z", Date.UTC(2026, 5, 26, 14, 52, 53) / 1000],
    ["2026-06-26 6:52:53.123456 +00:00:00", Date.UTC(2026, 5, 26, 6, 52, 53) / 1000],
    ["2026-06-26 16:52:53.5 +02:00:00", Date.UTC(2026, 5, 26, 14, 52, 53) / 1000],
    ["2026-06-26 6:52:53 -01:30:00", Date.UTC(2026, 5, 26, 8, 22, 53) / 1000],
  ])("%s → %i", (text, seconds) => {
    expect(parseNativeTime(text)).toBe(seconds);
  });

  it("a missing or unreadable timestamp is unknown; the encoder then dates the completion by its clock", async () => {
    expect(parseNativeTime(undefined)).toBeNull();
    expect(parseNativeTime("yesterday-ish")).toBeNull();
    const chunks = chunksOf(await project([{ event: "run.started", id: null, data: { run_id: RUN, status: "running" } }, completed()], { now: () => 7 }));
    expect(chunks[0]?.created).toBe(7);
  });
});
