/**
 * The projector's and the blocking fold's per-token fast paths (a delta that continues the open
 * block is framed from a template / appended directly, without the state machine's typed event) must
 * be invisible: over scripted native streams, the projector's bytes equal the generic path —
 * `AnthropicStreamState.step` + `frameOf` for every item — and the blocking fold equals those events
 * accumulated by `MessageAccumulator`. The scripts stress what the template could get wrong: text
 * JSON must escape, block switches between thinking and text (each block a new index), empty deltas,
 * tool use after text, a failure or the end inside an open block, and deltas after the end.
 */
import { describe, expect, it } from "vitest";
import { readNativeStream, type NativeStreamItem } from "../../src/native/events";
import { MessageAccumulator, messageFromRun, messageFromStream } from "../../src/protocols/anthropic/from-native";
import { AnthropicStreamProjector, AnthropicStreamState, frameOf, type AnthropicProjectionContext } from "../../src/protocols/anthropic/stream";

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

const context = (): AnthropicProjectionContext => ({
  model: "m",
  lookupUsage: async () => ({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }),
});

/** The generic path: every item through the state machine, every event through `frameOf`. */
async function reference(items: readonly NativeStreamItem[]): Promise<{ sse: string; accumulator: MessageAccumulator }> {
  const state = new AnthropicStreamState(context());
  const accumulator = new MessageAccumulator();
  let sse = "";
  for (const item of items) {
    for (const event of await state.step(item)) {
      sse += frameOf(event);
      accumulator.apply(event);
    }
  }
  return { sse, accumulator };
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
      for (const item of items) for (const frame of await projector.push(item)) sse += frame;
      const want = await reference(items);
      expect(sse).toBe(want.sse);
      expect(projector.done).toBe(true);
    });

    it(`blocking fold: ${name}`, async () => {
      const want = await reference(items);
      const outcome = await messageFromStream(streamOf(items), context());
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
    const outcome = await messageFromStream(readNativeStream(body, { idleMs: 10_000 }), context());
    const want = await reference(items);
    expect(outcome).toEqual({ ok: true, message: want.accumulator.message });
    expect(want.accumulator.message?.usage).toMatchObject({ input_tokens: 1, output_tokens: 2 });
  });

  it("the fold of a finished run record is unchanged (one batch of synthesized items)", async () => {
    const outcome = await messageFromRun(
      { id: RUN, status: "succeeded", answer: "<think>why</think>because \"so\"", usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } },
      context(),
    );
    expect(outcome.ok).toBe(true);
    if (outcome.ok) expect(outcome.message.content).toEqual([
      { type: "thinking", thinking: "why", signature: expect.any(String) },
      { type: "text", text: 'because "so"' },
    ]);
  });
});
