/**
 * The Anthropic encoder, pure: ids, usage, the error mapping, edge cases of the encoding (waiting runs
 * without tool calls, failed lookups, unfinished records), ping keepalives in the shared pipeline,
 * and the per-token fast paths — the SSE projector's delta templates and the blocking fold's direct
 * appends must equal the generic path (every event built as an object, framed by `frameOf`, and
 * accumulated by `MessageAccumulator`). The scripts stress what a template could get wrong: text
 * JSON must escape, block switches between thinking and text (each block a new index), empty deltas,
 * tool use after text, a failure or the end inside an open block, and deltas after the end.
 */
import { describe, expect, it } from "vitest";
import { projectToSse } from "../../src/http/sse";
import { NativeAnswerReader } from "../../src/native/answer";
import { NativeError } from "../../src/native/errors";
import { readNativeStream, type NativeStreamItem } from "../../src/native/events";
import type { NativeRun } from "../../src/native/schema";
import { runToItems } from "../../src/native/synthesize";
import { readUsage } from "../../src/native/usage";
import { toAnthropicError } from "../../src/protocols/anthropic/errors";
import { MessageAccumulator, messageFrom } from "../../src/protocols/anthropic/from-native";
import type { AnthropicStreamEvent } from "../../src/protocols/anthropic/schema";
import {
  AnthropicEncoder,
  AnthropicStreamProjector,
  anthropicUsage,
  frameOf,
  messageIdFor,
  PING_FRAME,
  runIdOfMessage,
  type AnthropicEventWriter,
  type AnthropicProjectionContext,
} from "../../src/protocols/anthropic/stream";

const RUN = "0197a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const TASK = "0197a3c4-7777-7abc-8def-0123456789ab";

const started: NativeStreamItem = { event: "run.started", id: null, data: { run_id: RUN, status: "running" } };
const text = (delta: string): NativeStreamItem => ({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const thinking = (delta: string): NativeStreamItem => ({ event: "reasoning.delta", id: null, data: { run_id: RUN, status: "running", delta } });
const completed: NativeStreamItem = {
  event: "run.completed",
  id: null,
  data: { run_id: RUN, status: "succeeded", usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } },
};
const completedWithoutUsage: NativeStreamItem = { event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded" } };
const failed: NativeStreamItem = { event: "run.failed", id: null, data: { run_id: RUN, status: "failed", error: { code: "boom", message: "it broke" } } } as NativeStreamItem;
const toolCall: NativeStreamItem = {
  event: "required_action",
  id: null,
  data: {
    run_id: RUN,
    status: "waiting",
    required_action: { action_type: "submit_tool_outputs", payload: { callback_task_id: TASK, tool_calls: [{ id: "c1", name: "lookup", arguments: { q: "a\"b" } }] } },
  },
} as NativeStreamItem;

/** Strings JSON.stringify escapes (or must not): quotes, backslashes, controls, U+2028, lone surrogates, astral. */
const NASTY = ['say "hi"', "back\\slash", "line\nbreak\r\t", "\u0000\u0001\u001f\u007f", "\u2028\u2029", "\ud800 lone", "lone \udfff", "🙂 世界 über", "</script>", '""', "}}\n\n"];

const scripts: Array<[string, NativeStreamItem[]]> = [
  ["text with escapes", [started, ...NASTY.map(text), completed]],
  ["thinking with escapes, then text", [started, ...NASTY.map(thinking), ...NASTY.map(text), completed]],
  ["alternating blocks", [started, thinking("a"), thinking("b"), text("c"), text("d"), thinking("e"), text("f"), thinking("g"), thinking("h"), completed]],
  ["empty deltas in and between blocks", [started, text(""), thinking(""), thinking("x"), thinking(""), thinking("y"), text(""), text("z"), text(""), completed]],
  ["a delta before run.started opens the message", [text("first"), text("second"), started, text("third"), completed]],
  ["text, then tool use", [started, thinking("plan"), thinking("ning"), text("Let me"), text(" look."), toolCall]],
  ["failure inside an open block, then deltas", [started, text("par"), text("tial"), failed, text("late"), thinking("late")]],
  ["deltas after the end", [started, text("done"), text("!"), completed, text("late"), thinking("late"), completed]],
  ["usage looked up at the end of an open block", [started, thinking("t"), thinking("u"), text("v"), text("w"), completedWithoutUsage]],
];

const lookupRun = async (runId: string): Promise<NativeRun> => ({ id: runId, status: "succeeded", usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } });
const context = (): AnthropicProjectionContext => ({ model: "m", lookupRun });

/** The generic path: every event built as an object, framed by `frameOf`, applied to `MessageAccumulator`. */
class GenericWriter implements AnthropicEventWriter {
  sse = "";
  readonly accumulator = new MessageAccumulator();
  event(event: AnthropicStreamEvent): void {
    this.sse += frameOf(event);
    this.accumulator.event(event);
  }
  delta(index: number, kind: "text" | "thinking", text: string): void {
    this.event({ type: "content_block_delta", index, delta: kind === "text" ? { type: "text_delta", text } : { type: "thinking_delta", thinking: text } });
  }
}

async function reference(items: readonly NativeStreamItem[]): Promise<GenericWriter> {
  const writer = new GenericWriter();
  const reader = new NativeAnswerReader(new AnthropicEncoder(context(), writer), { lookupRun });
  for (const item of items) await reader.push(item);
  return writer;
}

function streamOf(items: readonly NativeStreamItem[]): ReadableStream<NativeStreamItem> {
  return new ReadableStream({
    start(controller) {
      for (const item of items) controller.enqueue(item);
      controller.close();
    },
  });
}

describe("per-token fast paths equal the generic path", () => {
  for (const [name, items] of scripts) {
    it(`projector: ${name}`, async () => {
      const projector = new AnthropicStreamProjector(context());
      let sse = "";
      for (const item of items) {
        await projector.push(item);
        sse += projector.take();
      }
      const want = await reference(items);
      expect(sse).toBe(want.sse);
      expect(projector.done).toBe(true);
    });

    it(`blocking fold: ${name}`, async () => {
      const want = await reference(items);
      const outcome = await messageFrom(streamOf(items), context());
      if (want.accumulator.error) {
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) expect(outcome.error.message).toBe(want.accumulator.error.message);
      } else {
        expect(outcome).toEqual({ ok: true, message: want.accumulator.message });
      }
    });
  }

  it("blocking fold over a decoded native body: whole batches, a usage lookup inside one, items after the end", async () => {
    const items = [started, thinking("a\"b"), thinking("c"), ...NASTY.map(text), completedWithoutUsage, text("after the end")];
    // Native framing (`id:`/`event:`/`data:`), all in one chunk so everything is one batch.
    const sse = items
      .map((item, seq) => (item.event === "fault" ? "" : `id: ${RUN}:${seq + 1}\nevent: ${item.event}\ndata: ${JSON.stringify(item.data)}\n\n`))
      .join("");
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(sse));
        controller.close();
      },
    });
    const outcome = await messageFrom(readNativeStream(body, { idleMs: 10_000 }), context());
    const want = await reference(items);
    expect(outcome).toEqual({ ok: true, message: want.accumulator.message });
    expect(want.accumulator.message?.usage).toMatchObject({ input_tokens: 1, output_tokens: 2 });
  });

  it("the fold of a finished run record splits its think tags (the record path reads through the same reader)", async () => {
    const outcome = await messageFrom(
      runToItems({ id: RUN, status: "succeeded", answer: "<think>why</think>because \"so\"", usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }),
      context(),
    );
    expect(outcome.ok).toBe(true);
    if (outcome.ok) {
      expect(outcome.message.content).toEqual([
        { type: "thinking", thinking: "why", signature: expect.any(String) },
        { type: "text", text: 'because "so"' },
      ]);
    }
  });
});

describe("ids, usage, errors", () => {
  it("message ids round-trip to the run id; resumed ones differ", () => {
    expect(messageIdFor(RUN)).toBe("msg_0197a3c45e6f7a8b9c0d1e2f3a4b5c6d");
    expect(runIdOfMessage(messageIdFor(RUN))).toBe(RUN);
    expect(runIdOfMessage(messageIdFor(RUN, TASK))).toBe(RUN);
    expect(messageIdFor(RUN, TASK)).not.toBe(messageIdFor(RUN));
    expect(runIdOfMessage("msg_xyz")).toBeUndefined();
  });

  it("usage: prompt → input, completion → output, cache counts only when reported", () => {
    expect(anthropicUsage(null)).toEqual({ input_tokens: 0, output_tokens: 0 });
    expect(anthropicUsage(readUsage({ prompt_tokens: 10, completion_tokens: 2 }))).toEqual({ input_tokens: 10, output_tokens: 2 });
    expect(anthropicUsage(readUsage({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 5, cache_creation_input_tokens: 6 }))).toEqual({
      input_tokens: 3,
      output_tokens: 4,
      cache_read_input_tokens: 5,
      cache_creation_input_tokens: 6,
    });
    expect(anthropicUsage(readUsage({ prompt_tokens: 9, input_cache_hit_tokens: 7 }))).toEqual({ input_tokens: 9, output_tokens: 0, cache_read_input_tokens: 7 });
  });

  it("503 becomes 529 overloaded_error; other statuses keep their Anthropic type", () => {
    const overloaded = toAnthropicError(new NativeError({ kind: "http", status: 503, code: "x", message: "busy" }));
    expect([overloaded.status, overloaded.anthropicType]).toEqual([529, "overloaded_error"]);
    const timeout = toAnthropicError(new NativeError({ kind: "timeout", status: 504, code: "upstream_timeout", message: "slow" }));
    expect([timeout.status, timeout.anthropicType]).toEqual([504, "timeout_error"]);
    expect(toAnthropicError(new Error("bug")).anthropicType).toBe("api_error");
  });
});

describe("encoding edge cases", () => {
  const waiting = (requiredAction: unknown): NativeStreamItem =>
    ({ event: "required_action", id: null, data: { run_id: RUN, status: "waiting", required_action: requiredAction } }) as NativeStreamItem;

  /** The events an encoder writes for `items` (the generic writer above). */
  async function encode(items: readonly NativeStreamItem[], options: Partial<AnthropicProjectionContext> = {}) {
    const writer = new GenericWriter();
    const encoder = new AnthropicEncoder({ model: "m", ...options }, writer);
    const reader = new NativeAnswerReader(encoder, { lookupRun: options.lookupRun });
    for (const item of items) await reader.push(item);
    return { writer, encoder, reader };
  }

  it("a waiting run without tool calls is a 409 error event; a non-UUID task a 502", async () => {
    const human = await encode([started, waiting({ action_type: "callback", payload: { callback_task_id: TASK, tool_calls: [] } }), started]);
    expect(human.writer.accumulator.error).toEqual({ type: "invalid_request_error", message: expect.stringContaining("callback") });
    expect(human.encoder.failure?.status).toBe(409);
    expect(human.reader.done).toBe(true);

    const bad = await encode([started, waiting({ action_type: "submit_tool_outputs", payload: { callback_task_id: "task-1", tool_calls: [{ id: "c", name: "n", arguments: {} }] } })]);
    expect(bad.encoder.failure?.status).toBe(502);
  });

  it("a failing usage lookup still finishes the message (zero usage)", async () => {
    const { writer, reader } = await encode([started, { event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded" } }], { lookupRun: () => Promise.reject(new Error("down")) });
    expect(writer.accumulator.message?.usage).toMatchObject({ input_tokens: 0, output_tokens: 0 });
    expect(writer.accumulator.stopped).toBe(true);
    expect(reader.done).toBe(true);
  });

  it("a run record that has not finished is a 502, not a hang", async () => {
    const outcome = await messageFrom(runToItems({ id: RUN, status: "running" }), { model: "m" });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect([outcome.error.status, outcome.error.anthropicType]).toEqual([502, "api_error"]);
  });

  it("pings while native is idle, through the shared SSE pipeline", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let sent = 0;
    const items = new ReadableStream<NativeStreamItem>({
      async pull(controller) {
        sent += 1;
        if (sent === 1) controller.enqueue(started);
        else if (sent === 2) {
          await gate; // native is silent until the test has seen a ping
          controller.enqueue({ event: "message.delta", id: null, data: { run_id: RUN, status: "running", delta: "hi" } });
        } else controller.enqueue({ event: "run.completed", id: null, data: { run_id: RUN, status: "succeeded", usage: { prompt_tokens: 1, completion_tokens: 1 } } });
      },
    });
    const body = projectToSse(items, new AnthropicStreamProjector({ model: "m" }), { keepaliveMs: 5 });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const frames: string[] = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      // A chunk carries whole frames, one or several (sse.ts batches a burst into one write).
      const chunk = decoder.decode(value);
      expect(chunk.endsWith("\n\n")).toBe(true);
      const inChunk = chunk.split(/(?<=\n\n)/);
      frames.push(...inChunk);
      if (inChunk.includes(PING_FRAME)) release();
    }
    expect(frames[0]).toMatch(/^event: message_start\n/);
    expect(frames).toContain(PING_FRAME);
    expect(PING_FRAME).toBe('event: ping\ndata: {"type":"ping"}\n\n');
    expect(frames.at(-1)).toBe('event: message_stop\ndata: {"type":"message_stop"}\n\n');
  });
});

